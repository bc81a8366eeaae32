"""An offline till's batch through the API (on both databases): 50 purchases dated across a campaign's end
and a month boundary (with a monthly cap), sent twice and in shuffled order, earn exactly what the table says."""
from __future__ import annotations

import datetime as dt
import random

import time_machine

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
START = dt.datetime(2026, 2, 24, 0, 0, tzinfo=UTC)
WINTER_ENDS = dt.datetime(2026, 2, 26, 0, 0, tzinfo=UTC)
SPRING_STARTS = dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def campaign(api, code, effect, **fields):
    r = api.post("/campaigns", json={"code": code, "name": code.title(), **fields})
    assert r.status_code == 201, r.json
    r = api.post(f"/campaigns/{r.json['campaign']['id']}/actions", json={"effects": [effect]})
    assert r.status_code == 201, r.json


def batch(member_id, order):
    rows = [{"externalId": f"till-7-{i:02d}", "systemUniqueKey": f"till-7-{i:02d}", "status": "confirmed",
             "total": 7, "externalEventDate": (START + dt.timedelta(hours=3 * i)).isoformat().replace("+00:00", "Z"),
             "memberId": member_id} for i in range(50)]
    return [rows[i] for i in order]


def test_an_offline_batch_sent_twice_in_shuffled_order_earns_what_the_table_says(api, session):
    # 50 purchases of 7.00, every 3 hours from 24 Feb 00:00 UTC: #0-#39 in February (to 28 Feb 21:00),
    # #40-#49 in March (1 Mar 00:00 to 2 Mar 03:00); #0-#15 before WINTER ended (26 Feb 00:00).
    # campaign | what                      | February                    | March
    # BASE     | 1 per euro, cap 100/month | 40 x 7 = 280, capped to 100 | 10 x 7 = 70
    # WINTER   | 5 each, until 26 Feb      | 16 x 5 = 80                 | 0
    # SPRING   | 2 each, from 1 Mar        | 0                           | 10 x 2 = 20
    # total                                | 180                         | 90       = 270
    campaign(api, "BASE", {"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"},
             monthlyPointsCap=100)
    campaign(api, "WINTER", {"type": "award_points", "mode": "fixed", "points": 5}, validTo=WINTER_ENDS.isoformat())
    campaign(api, "SPRING", {"type": "award_points", "mode": "fixed", "points": 2},
             validFrom=SPRING_STARTS.isoformat())
    member = api.post("/members", json={"profile": {"givenName": "Olga"}}).json["member"]
    shuffled = random.Random(12).sample(range(50), 50)
    assert shuffled != sorted(shuffled)

    with time_machine.travel(NOW, tick=False):
        first = api.post("/purchase-orders/import", json={"orders": batch(member["id"], shuffled)})
        again = api.post("/purchase-orders/import",
                         json={"orders": batch(member["id"], random.Random(34).sample(range(50), 50))})
    assert first.status_code == 200, first.json
    results = {row["externalId"]: row for row in first.json["results"]}
    assert {row["outcome"] for row in results.values()} == {"applied"}
    earned = {int(ref[-2:]): row["pointsEarned"] for ref, row in results.items()}
    february, march = range(0, 40), range(40, 50)
    assert sum(earned[i] for i in february) == 100 + 16 * 5
    assert sum(earned[i] for i in march) == 70 + 20
    assert all(earned[i] == 7 + 2 for i in march)  # below March's cap, SPRING running
    # February's cap fills in the order the till sent them: the first 14 February purchases 7 each,
    # the 15th the 2 left, the other 25 nothing from BASE.
    base = {i: earned[i] - (5 if i < 16 else 0) for i in february}
    sent_february = [i for i in shuffled if i < 40]
    assert [base[i] for i in sent_february] == [7] * 14 + [2] + [0] * 25
    balance = api.get(f"/members/{member['id']}/wallet").json["balances"][0]["balance"]
    assert balance == 270

    assert again.status_code == 200, again.json
    assert {row["outcome"] for row in again.json["results"]} == {"replayed"}
    assert sum(row["pointsEarned"] for row in again.json["results"]) == 0
    assert api.get(f"/members/{member['id']}/wallet").json["balances"][0]["balance"] == 270
    listed = api.get(f"/members/{member['id']}/purchase-orders?limit=100").json
    assert listed["totalCount"] == 50 and sum(o["pointsAwarded"] for o in listed["results"]) == 270
