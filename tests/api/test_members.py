"""Members through the JSON API: create, list, get, patch, batch, lookup, identifiers, search."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from portal.domain import members as domain_members

from ..factories import make_member
from .conftest import problem, row_counts


def create(api, **body):
    r = api.post("/members", json=body)
    assert r.status_code == 201, r.json
    return r.json["member"]


def test_create_returns_the_wrapped_member_with_a_card_code(api, org, session):
    r = api.post("/members", json={"profile": {"email": "Ann@Example.com", "givenName": "Ann", "familyName": "Smith",
                                               "birthDate": "1990-05-17", "phone": "+49 30 1234",
                                               "city": "Berlin", "zipCode": "10115", "countryCode": "de"},
                                   "customAttributes": {"shoeSize": 38, "vip": True}})
    assert r.status_code == 201 and r.mimetype == "application/json"
    assert list(r.json) == ["member"]
    member = r.json["member"]
    assert member["organizationId"] == org.id and member["accountStatus"] == "ACTIVE" and member["active"] is True
    assert member["profile"] == {"email": "ann@example.com", "givenName": "Ann", "familyName": "Smith",
                                 "birthDate": "1990-05-17", "phone": "+49 30 1234", "street": "", "city": "Berlin",
                                 "zipCode": "10115", "countryCode": "DE"}
    assert member["customAttributes"] == {"shoeSize": 38, "vip": True}
    [card] = member["identifiers"]
    assert card["type"] == "CARDCODE" and domain_members.is_valid_card_code(card["code"])
    assert member["loyaltyMemberId"] and member["createdAt"].endswith("Z")
    stored = domain_members.get_member(session, org.id, member["id"])
    assert stored.email == "ann@example.com" and domain_members.card_code_of(session, stored.id) == card["code"]


def test_create_with_a_loyalty_member_id_and_duplicates(api):
    member = create(api, loyaltyMemberId="LM-1", profile={"email": "a@example.com"})
    assert member["loyaltyMemberId"] == "LM-1"
    problem(api.post("/members", json={"loyaltyMemberId": "LM-1"}), 409, "loyaltyMemberId")
    problem(api.post("/members", json={"profile": {"email": "A@EXAMPLE.COM"}}), 409, "profile.email")


def test_unknown_referral_code_is_refused(api):
    problem(api.post("/members", json={"referralCode": "NOPE"}), 422, "referralCode")


def test_list_pages_in_the_seed_envelope(api):
    made = [create(api, profile={"email": f"p{i}@example.com", "familyName": f"F{i}"}) for i in range(5)]
    r = api.get("/members?limit=2&page=1&order=id,asc")
    assert r.status_code == 200
    assert (r.json["totalCount"], r.json["page"], r.json["limit"]) == (5, 1, 2)
    assert [m["id"] for m in r.json["results"]] == [made[2]["id"], made[3]["id"]]
    r = api.get("/members?limit=2&page=2&order=id,asc")
    assert [m["id"] for m in r.json["results"]] == [made[4]["id"]]
    r = api.get("/members?order=id,desc")
    assert [m["id"] for m in r.json["results"]] == [m["id"] for m in reversed(made)]
    assert r.json["limit"] == 10


def test_list_filters(api, session):
    ann = create(api, loyaltyMemberId="ANN", profile={"email": "ann@example.com"})
    create(api, loyaltyMemberId="BOB", profile={"email": "bob@example.com"})
    assert [m["id"] for m in api.get("/members?email=ANN@example.com").json["results"]] == [ann["id"]]
    assert [m["id"] for m in api.get("/members?loyaltyMemberId=ANN").json["results"]] == [ann["id"]]
    past = "2000-01-01T00:00:00Z"
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api.get(f"/members?fromCreatedAt={past}").json["totalCount"] == 2
    assert api.get(f"/members?fromCreatedAt={future}").json["totalCount"] == 0
    assert api.get(f"/members?toCreatedAt={past}").json["totalCount"] == 0
    assert api.get(f"/members?toCreatedAt={future}&fromCreatedAt={past}").json["totalCount"] == 2


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=101", "limit"), ("page=-1", "page"),
                                          ("page=x", "page"), ("order=password,asc", "order"),
                                          ("order=id,sideways", "order"),
                                          ("fromCreatedAt=2020-01-01T00:00:00", "fromCreatedAt"),
                                          ("fromCreatedAt=yesterday", "fromCreatedAt"),
                                          ("fromCreatedAt=1700000000", "fromCreatedAt"),
                                          ("emial=ann@example.com", "emial")])
def test_list_refuses_bad_paging_and_filters(api, query, field):
    problem(api.get(f"/members?{query}"), 422, field)


def test_list_shows_only_the_organisation(api, session, other_org):
    make_member(session, other_org)
    mine = create(api)
    assert [m["id"] for m in api.get("/members").json["results"]] == [mine["id"]]


def test_get_and_patch(api, member, session):
    r = api.get(f"/members/{member['id']}")
    assert r.status_code == 200 and r.json["member"]["id"] == member["id"]
    r = api.patch(f"/members/{member['id']}", json={"profile": {"city": "Munich"}, "customAttributes": {"x": 1},
                                                     "updateReason": "moved"})
    assert r.status_code == 200
    assert r.json["member"]["profile"]["city"] == "Munich"
    assert r.json["member"]["profile"]["givenName"] == "Ann"
    assert api.get(f"/members/{member['id']}").json["member"]["customAttributes"] == {"x": 1}


def test_patch_to_a_taken_email_is_a_conflict(api, member):
    other = create(api, profile={"email": "other@example.com"})
    problem(api.patch(f"/members/{other['id']}", json={"profile": {"email": "ANN@example.com"}}), 409,
            "profile.email")
    assert api.get(f"/members/{other['id']}").json["member"]["profile"]["email"] == "other@example.com"


def test_a_locked_member_cannot_earn(api, member):
    r = api.patch(f"/members/{member['id']}", json={"accountStatus": "LOCKED"})
    assert r.json["member"]["accountStatus"] == "LOCKED"
    body = problem(api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 5}), 409,
                   "memberId")
    assert body["type"].endswith("account-not-active")


def test_batch_reports_what_was_not_found(api, member, session, other_org):
    second = create(api)
    stranger = make_member(session, other_org)
    r = api.post("/members/batch", json={"memberIds": [second["id"], 999_999, member["id"], stranger.id]})
    assert r.status_code == 200
    assert [m["id"] for m in r.json["members"]] == [second["id"], member["id"]]
    assert r.json["notFound"] == [999_999, stranger.id]


def test_lookup_by_every_identifier_type(api, member):
    card = member["identifiers"][0]["code"]
    for body in ({"type": "APPCODE", "code": "app-1"}, {"type": "EXTERNALCODE", "code": "ext-1"}):
        assert api.post(f"/members/{member['id']}/identifiers", json=body).status_code == 201
    for id_type, code in (("CARDCODE", card.lower()), ("APPCODE", "app-1"), ("EXTERNALCODE", "ext-1"),
                          ("ID", member["id"])):
        r = api.get(f"/members/lookup?idType={id_type}&code={code}")
        assert r.status_code == 200 and r.json["member"]["id"] == member["id"], (id_type, r.json)
    problem(api.get("/members/lookup?idType=APPCODE&code=nope"), 404)
    problem(api.get("/members/lookup?idType=PHONE&code=1"), 422, "idType")
    problem(api.get("/members/lookup?idType=CARDCODE"), 422, "code")


def test_identifiers_are_added_and_kept_unique(api, member):
    r = api.post(f"/members/{member['id']}/identifiers", json={"type": "APPCODE", "code": "app-7"})
    assert r.status_code == 201
    assert {(i["type"], i["code"]) for i in r.json["member"]["identifiers"]} >= {("APPCODE", "app-7")}
    assert len(r.json["member"]["identifiers"]) == 2
    other = create(api)
    problem(api.post(f"/members/{other['id']}/identifiers", json={"type": "APPCODE", "code": "app-7"}), 409, "code")
    problem(api.post(f"/members/{other['id']}/identifiers", json={"type": "CARDCODE", "code": "ABCDEFGHJK"}), 422,
            "code")
    problem(api.post(f"/members/{other['id']}/identifiers", json={"type": "PHONE", "code": "1"}), 422, "type")


@pytest.mark.parametrize("path", ["/members/{ref}", "/members/{ref}/wallet"])
def test_the_id_type_header_accepts_an_identifier(api, funded, path):
    member, _ = funded
    card = member["identifiers"][0]["code"]
    r = api.get(path.format(ref=card), headers={"id-type": "CARDCODE"})
    assert r.status_code == 200, r.json
    if path.endswith("wallet"):
        assert r.json["memberId"] == member["id"] and r.json["balances"][0]["balance"] == 100
    else:
        assert r.json["member"]["id"] == member["id"]
    problem(api.get(path.format(ref=card)), 404, "memberId")           # without the header it is an id
    problem(api.get(path.format(ref="NOPE"), headers={"id-type": "CARDCODE"}), 404, "memberId")
    problem(api.get(path.format(ref=card), headers={"id-type": "SHOE"}), 422, "id-type")


def test_wallet_lists_main_points_first_with_holds(api, funded, session):
    member, wallet_id = funded
    r = api.get(f"/members/{member['id']}/wallet")
    main, tier_points = r.json["balances"]
    assert (main["name"], main["walletId"], main["balance"], main["available"]) == ("Points", wallet_id, 100, 100)
    assert tier_points["name"] == "Tier points" and tier_points["balance"] == 0
    account, ledger_id = main["ledgerAccountId"], main["ledgerId"]
    hold = api.post(f"/ledgers/{ledger_id}/accounts/{account}/transactions",
                    json={"amount": 30, "fromWalletId": wallet_id, "captureMethod": "manual"})
    assert hold.status_code == 201, hold.json
    main = api.get(f"/members/{member['id']}/wallet").json["balances"][0]
    assert (main["balance"], main["held"], main["available"]) == (100, 30, 70)


def test_search_in_the_convercus_shape(api, member):
    create(api, profile={"givenName": "Tom", "familyName": "Smith", "city": "Hamburg", "birthDate": "1985-01-02"})
    r = api.get("/search?q=smith berlin&type=ACCOUNT")
    assert r.status_code == 200
    assert (r.json["searchTerm"], r.json["nrOfResults"]) == ("smith berlin", 1)
    [hit] = r.json["results"]["ACCOUNT"]
    assert hit == {"refId": str(member["id"]), "type": "ACCOUNT",
                   "preview": "name: Ann Smith,email: ann@example.com"}
    assert api.get("/search?q=smith").json["nrOfResults"] == 2
    assert api.get("/search?q=1985-01-02").json["nrOfResults"] == 1
    assert api.get(f"/search?q={member['identifiers'][0]['code']}").json["nrOfResults"] == 1
    problem(api.get("/search?q=1985-01-02 smith"), 422, "q")
    problem(api.get("/search?q="), 422, "q")


def test_loyalty_member_route(api, member):
    r = api.get(f"/loyalty-members/{member['loyaltyMemberId']}")
    assert r.status_code == 200 and r.json["member"]["id"] == member["id"]
    problem(api.get("/loyalty-members/nobody"), 404, "loyaltyMemberId")


def test_validation_failure_writes_nothing(api, session):
    before = row_counts(session)
    problem(api.post("/members", json={"profile": {"email": "not-an-email"}}), 422, "profile.email")
    problem(api.post("/members", json={"profile": {"birthDate": "2999-01-01"}}), 422, "profile.birthDate")
    assert row_counts(session) == before


def test_a_query_parameter_given_twice_is_refused_naming_it(api):
    r = api.get("/members?limit=5&limit=500")
    assert r.status_code == 422 and r.json["errors"] == {"limit": ["given more than once"]}, r.json


def test_a_repeated_parameter_the_list_does_not_read_is_ignored_like_any_unknown_one(api, session):
    # /campaigns reads limit but not `_` (a cache buster): ignored once, ignored twice too; limit still once.
    r = api.get("/campaigns?limit=5&_=1&_=2")
    assert r.status_code == 200 and r.json["limit"] == 5, r.json
    r = api.get("/campaigns?limit=5&limit=6&_=1&_=2")
    assert r.status_code == 422 and r.json["errors"] == {"limit": ["given more than once"]}, r.json


def test_the_member_reads_answer_exactly_what_their_models_document(api, org, session):
    """The member reads build their answer as dicts, not through the response models: validating each answer
    with its documented model and dumping it again gives the very same JSON (names, times, nulls)."""
    from portal.api.schemas import members as s
    from portal.domain import points, tiers
    from portal.domain.ledger import Reason

    from ..factories import make_tiers

    member = create(api, profile={"email": "shape@example.com", "givenName": "Ada", "familyName": "Lovelace",
                                  "birthDate": "1990-05-17", "phone": "+49301234567", "street": "Hauptstr. 1",
                                  "city": "Berlin", "zipCode": "10115", "countryCode": "DE"},
                    customAttributes={"nested": {"list": [1, 2.5, None, "x"]}, "flag": False})
    api.post(f"/members/{member['id']}/identifiers", json={"type": "EXTERNALCODE", "code": "SHAPE-1"})
    bronze, *_ = make_tiers(session, org)
    expires = dt.datetime(2031, 2, 3, 4, 5, 6, 789, tzinfo=dt.timezone.utc)
    tiers.set_tier(session, member["id"], org.program, bronze, actor=org.actor, expires_at=expires)
    points.mint_to_member(session, domain_members.get_member(session, org.id, member["id"]), 12, actor=org.actor,
                          reason=Reason(description="x"))
    session.commit()
    plain = make_member(session, org)  # no tier, one identifier
    session.commit()

    one = api.get(f"/members/{member['id']}").json
    assert s.MemberEnvelope.model_validate(one).dump() == one
    assert [i["type"] for i in one["member"]["identifiers"]] == ["CARDCODE", "EXTERNALCODE"]
    # and each value from its own column (the answer is built by name from the read's row)
    assert one["member"]["profile"] == {"email": "shape@example.com", "givenName": "Ada", "familyName": "Lovelace",
                                        "birthDate": "1990-05-17", "phone": "+49301234567", "street": "Hauptstr. 1",
                                        "city": "Berlin", "zipCode": "10115", "countryCode": "DE"}
    assert (one["member"]["customAttributes"], one["member"]["active"]) == (
        {"nested": {"list": [1, 2.5, None, "x"]}, "flag": False}, True)
    assert one["member"]["tiers"] == [{"loyaltyProgramId": org.program.id, "loyaltyTierId": bronze.id,
                                       "name": "Bronze", "source": one["member"]["tiers"][0]["source"],
                                       "expiresAt": "2031-02-03T04:05:06.000789Z"}]
    page = api.get("/members?limit=5&order=id,asc").json
    assert s.MemberPage.model_validate(page).dump() == page
    assert [m["id"] for m in page["results"]] == [member["id"], plain.id]
    assert page["results"][0] == one["member"] and page["results"][1]["tiers"] == []
    batch = api.post("/members/batch", json={"memberIds": [plain.id, 10 ** 9, member["id"], plain.id]}).json
    assert s.MemberBatchOut.model_validate(batch).dump() == batch
    assert [m["id"] for m in batch["members"]] == [plain.id, member["id"], plain.id]
    assert batch["notFound"] == [10 ** 9]
    wallet = api.get(f"/members/{member['id']}/wallet").json
    assert s.WalletOut.model_validate(wallet).dump() == wallet
    assert wallet["balances"][0]["balance"] == 12 and wallet["memberId"] == member["id"]


def test_a_member_read_by_a_path_no_member_has_is_not_found(api, org):
    for ref in ("0", "²", "99999999999999999999", "12a"):
        for path in (f"/members/{ref}", f"/members/{ref}/wallet"):
            assert problem(api.get(path), 404)["errors"] == {"memberId": ["Member not found"]}, path


@pytest.mark.parametrize("order", ["familyName,asc", "familyName,desc", "createdAt,asc", "createdAt,desc"])
def test_members_equal_in_the_order_are_each_on_one_page(api, org, session, order):
    """Ties in the chosen order (one family name, one creation time) are broken by id, on every page alike."""
    with time_machine.travel(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc), tick=False):
        made = {make_member(session, org, familyName="Same").id for _ in range(7)}
    session.commit()
    seen = [m["id"] for page in range(4) for m in api.get(f"/members?limit=2&page={page}&order={order}").json["results"]]
    assert sorted(seen) == sorted(made)
    ids = seen if order.endswith("asc") else seen[::-1]
    assert ids == sorted(ids)  # by id within the tie, in the order's direction
