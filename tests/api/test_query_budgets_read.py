"""Query budgets of the hot read paths, as exact statement counts on both databases (issue 11): a
regression fails here instead of waiting for the next benchmark. The API key is resolved from the
process's cache (warmed by a first request), so no statement here reads api_keys."""
from __future__ import annotations

import datetime as dt

import pytest

from portal.domain import ledger, members, points, tiers
from portal.domain.ledger import Reason

from .. import factories
from portal.extensions import db

from ..statements import counted

MEMBERS = 101  # so that pages of 20 and of 100 are both full (and both count)


@pytest.fixture
def crowd(session, org):
    """MEMBERS members, each with a card code and a second identifier, every other one with a tier."""
    bronze, _silver, gold = factories.make_tiers(session, org)
    made = []
    for n in range(MEMBERS):
        member = factories.make_member(session, org)
        members.add_identifier(session, member, "EXTERNALCODE", f"EXT-{n}", actor=org.actor)
        if n % 2:
            tiers.set_tier(session, member.id, org.program, gold if n % 4 == 1 else bronze, actor=org.actor)
        made.append(member)
    session.commit()
    return made


def _budget(engine, call):
    db.session.expunge_all()  # nothing from the set-up in the identity map: a request starts with none
    with counted(engine) as statements:
        response = call()
    assert response.status_code == 200, response.get_json()
    return response.get_json(), statements


def test_member_pages_of_20_and_of_100_issue_the_same_two_statements(api, engine, crowd):
    api.get("/members?limit=1")  # the key is now known to this process
    small, at_20 = _budget(engine, lambda: api.get("/members?limit=20&order=id,asc"))
    large, at_100 = _budget(engine, lambda: api.get("/members?limit=100&order=id,asc"))
    assert len(small["results"]) == 20 and len(large["results"]) == 100
    assert small["totalCount"] == large["totalCount"] == MEMBERS
    # the page with its members' identifiers and tiers, the (capped) count
    assert len(at_20) == len(at_100) == 2, at_100
    assert at_100.touching("api_keys") == []
    # what the batch loads is what the member route shows, member by member
    for shown in (large["results"][1], large["results"][3], large["results"][4]):
        alone = api.get(f"/members/{shown['id']}").get_json()["member"]
        assert shown == alone
    assert {i["type"] for i in large["results"][0]["identifiers"]} == {"CARDCODE", "EXTERNALCODE"}
    assert [t["name"] for t in large["results"][1]["tiers"]] == ["Gold"]
    assert [t["name"] for t in large["results"][3]["tiers"]] == ["Bronze"]
    assert large["results"][0]["tiers"] == []


def test_a_page_that_is_not_full_is_not_counted(api, engine, crowd):
    api.get("/members?limit=1")
    last, statements = _budget(engine, lambda: api.get("/members?limit=20&page=5&order=id,asc"))
    assert len(last["results"]) == 1 and last["totalCount"] == MEMBERS
    assert len(statements) == 1
    past, statements = _budget(engine, lambda: api.get("/members?limit=20&page=9"))
    assert past["results"] == [] and past["totalCount"] == MEMBERS
    assert len(statements) == 2  # the empty page, then the count


def test_the_member_count_stops_at_the_cap(api, engine, crowd, monkeypatch):
    monkeypatch.setattr(members, "COUNT_CAP", 50)
    api.get("/members?limit=1&email=nobody@example.com")
    body, statements = _budget(engine, lambda: api.get("/members?limit=20"))
    assert body["totalCount"] == 50 and len(body["results"]) == 20
    assert len(statements) == 2  # the page, the count
    assert api.get("/members?limit=20&page=5").get_json()["totalCount"] == MEMBERS  # the last page tells exactly
    # Members are never deleted: an organisation once seen with as many as the cap is not counted again
    again, statements = _budget(engine, lambda: api.get("/members?limit=10&page=1&order=id,asc"))
    assert again["totalCount"] == 50 and len(statements) == 1, statements
    # a filtered list still counts its own set
    filtered, statements = _budget(engine, lambda: api.get(f"/members?limit=5&email={crowd[3].email}"))
    assert filtered["totalCount"] == 1 and len(statements) == 1  # a page that is not full tells
    since = (crowd[0].created_at - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dated, statements = _budget(engine, lambda: api.get(f"/members?limit=20&fromCreatedAt={since}"))
    assert dated["totalCount"] == 50 and len(statements) == 2


def test_a_full_page_that_reaches_the_cap_is_not_counted(api, engine, crowd, monkeypatch):
    monkeypatch.setattr(members, "COUNT_CAP", 40)
    api.get("/members?limit=1&email=nobody@example.com")
    body, statements = _budget(engine, lambda: api.get("/members?limit=20&page=1&order=id,asc"))
    assert body["totalCount"] == 40 and len(body["results"]) == 20 and len(statements) == 1


def test_member_by_id_is_one_statement(api, engine, crowd):
    member = crowd[1]
    api.get("/members?limit=1")
    body, statements = _budget(engine, lambda: api.get(f"/members/{member.id}"))
    assert body["member"]["id"] == member.id and body["member"]["tiers"][0]["name"] == "Gold"
    assert len(statements) == 1, statements  # the member with its identifiers and tiers


def test_member_balance_is_one_statement(api, engine, session, org):
    member = factories.make_member(session, org)
    points.mint_to_member(session, member, 70, actor=org.actor, reason=Reason(description="x"))
    session.commit()
    api.get("/members?limit=1")
    body, statements = _budget(engine, lambda: api.get(f"/members/{member.id}/wallet"))
    assert body["balances"][0]["balance"] == 70
    assert [b["ledgerAccountId"] for b in body["balances"]][:2] == [org.program.points_account_id,
                                                                    org.program.tier_points_account_id]
    # the accounts with the member's wallets and the default programme, joined to the member (which it finds)
    assert len(statements) == 1, statements


def test_thirty_days_of_transactions_is_one_statement(api, engine, session, org):
    member = factories.make_member(session, org)
    now = dt.datetime.now(dt.timezone.utc)
    for n in range(40):
        points.mint_to_member(session, member, 10 + n, actor=org.actor,
                              reason=Reason(description=f"m{n}", external_event_date=now - dt.timedelta(days=n)))
    session.commit()
    account = org.program.points_account_id
    ledger_id = session.get(ledger.LedgerAccount, account).ledger_id
    since = (now - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (now + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api.get("/members?limit=1")
    path = (f"/ledgers/{ledger_id}/accounts/{account}/transactions?fromExternalEventDate={since}"
            f"&toExternalEventDate={until}&limit=20")
    body, statements = _budget(engine, lambda: api.get(path))
    assert len(body["results"]) == 20 and body["totalCount"] == 31  # days 0..30
    assert {r["memberId"] for r in body["results"]} == {member.id}
    assert {r["status"] for r in body["results"]} == {"posted"}
    assert [r["amount"] for r in body["results"]] == list(range(40, 20, -1))  # newest first: days 30..11
    # the account checked, the page (its keys, then their rows with their wallets' members and states), the count
    assert len(statements) == 1, statements
    body, statements = _budget(engine, lambda: api.get(f"{path}&page=1"))
    assert [r["amount"] for r in body["results"]] == list(range(20, 9, -1)) and body["totalCount"] == 31
    assert len(statements) == 1, statements  # a page that is not full tells the total
    body, statements = _budget(engine, lambda: api.get(f"{path}&page=5"))
    assert body["results"] == [] and body["totalCount"] == 31 and len(statements) == 1, statements


def test_the_audience_list_costs_the_same_for_2_audiences_and_for_10(api, engine, session, org):

    berliners = [factories.make_member(session, org, city="Berlin") for _ in range(2)]
    factories.make_member(session, org, city="Hamburg")

    factories.audience_pairs(session, org, 0, 1, [berliners[0].id])
    api.get("/audiences")  # the key is now known to this process
    few, at_2 = _budget(engine, lambda: api.get("/audiences?limit=20"))  # pages not full: no count query
    factories.audience_pairs(session, org, 1, 4, [berliners[0].id])
    many, at_10 = _budget(engine, lambda: api.get("/audiences?limit=20"))
    assert len(few["results"]) == 2 and many["totalCount"] == 10
    assert sorted((a["kind"], a["memberCount"]) for a in many["results"]) == [("list", 1)] * 5 + [("rule", 2)] * 5
    # the page, the list audiences' rows counted together, the members, the programme, their tiers and balances:
    # the same for 10 audiences as for 2
    assert len(at_10) == len(at_2) == 6, at_10
    # and each count is the one the audience's own route gives
    for shown in many["results"][:2]:
        assert api.get(f"/audiences/{shown['id']}").get_json()["audience"]["memberCount"] == shown["memberCount"]
