"""Referral programmes over the JSON API: programmes, codes, signup with a code, report, isolation."""
from __future__ import annotations

from decimal import Decimal

from portal.domain import earning, enrolment, orders
from portal.domain.orders import ItemInput, OrderInput
from tests import factories

PROGRAM = {"name": "Bring a friend", "referrerPoints": 100, "referredPoints": 50,
           "eventType": "member-purchase-order-confirmed", "maxReferralsPerMember": 5, "maxUsesPerCode": 3}


def create_program(api, **fields):
    r = api.post("/referral-programs", json={**PROGRAM, **fields})
    assert r.status_code == 201, r.json
    return r.json["referralProgram"]


def join(session, org, code, **profile):
    member, _ = enrolment.enrol_member(session, org.id, actor=org.actor, profile=profile, referral_code=code)
    return member


def buy(session, org, member, external_id):
    orders.record_order(session, member, OrderInput(external_id=external_id, status="confirmed", total=Decimal("9"),
                                                    items=[ItemInput(sku="A", quantity=1, unit_price=Decimal("9"))]),
                        actor=org.actor)


def test_programme_crud(api, session):
    session.commit()
    rp = create_program(api)
    assert (rp["referrerPoints"], rp["referredPoints"], rp["maxUsesPerCode"], rp["active"]) == (100, 50, 3, True)
    r = api.patch(f"/referral-programs/{rp['id']}", json={"referrerPoints": 150, "maxUsesPerCode": None})
    assert r.status_code == 200, r.json
    assert (r.json["referralProgram"]["referrerPoints"], r.json["referralProgram"]["maxUsesPerCode"]) == (150, None)
    assert r.json["referralProgram"]["referredPoints"] == 50
    assert api.get(f"/referral-programs/{rp['id']}").json["referralProgram"]["referrerPoints"] == 150
    assert api.get("/referral-programs").json["totalCount"] == 1
    bad = api.post("/referral-programs", json={**PROGRAM, "eventType": "no-such-event"})
    assert bad.status_code == 422 and "eventType" in bad.json["errors"]
    bad = api.post("/referral-programs", json={**PROGRAM, "referrerPoints": -1})
    assert bad.status_code == 422 and "referrerPoints" in bad.json["errors"]


def test_codes_signup_purchase_and_report(api, session, org):
    alice = factories.make_member(session, org, email="alice@example.com")
    session.commit()
    rp = create_program(api)
    r = api.post(f"/referral-programs/{rp['id']}/codes", json={"memberId": alice.id})
    assert r.status_code == 201, r.json
    [code] = r.json["referralCodes"]
    assert code["memberId"] == alice.id and code["sharePath"] == f"/join/{code['code']}"
    r = api.post(f"/referral-programs/{rp['id']}/codes", json={"memberId": alice.id, "codes": ["alice-vip"]})
    assert r.json["referralCodes"][0]["code"] == "ALICE-VIP"
    assert api.post(f"/referral-programs/{rp['id']}/codes",
                    json={"memberId": alice.id, "codes": ["ALICE-VIP"]}).status_code == 409
    listed = api.get(f"/referral-programs/{rp['id']}/codes?memberId={alice.id}").json
    assert listed["totalCount"] == 2

    bob = join(session, org, code["code"], email="bob@example.com")
    self_ref = join(session, org, code["code"], email="alice+2@example.com")
    buy(session, org, bob, "b-1")
    session.commit()

    report = api.get(f"/referral-programs/{rp['id']}/report?order=id,asc").json
    assert report["totalCount"] == 2
    rows = [(row["referrer"]["memberId"], row["referred"]["memberId"], row["code"], row["status"],
             row["referrerPoints"], row["referredPoints"]) for row in report["results"]]
    assert rows == [(alice.id, bob.id, code["code"], "completed", 100, 50),
                    (alice.id, self_ref.id, code["code"], "rejected", 0, 0)]
    assert report["results"][1]["reason"] == "self-referral: same email"
    rejected = api.get(f"/referral-programs/{rp['id']}/report?status=rejected").json
    assert [row["referred"]["memberId"] for row in rejected["results"]] == [self_ref.id]
    referred = api.get(f"/referral-programs/{rp['id']}/codes/{code['id']}/referred").json
    assert referred["totalCount"] == 2
    vip_id = next(c["id"] for c in listed["results"] if c["code"] == "ALICE-VIP")
    assert api.get(f"/referral-programs/{rp['id']}/codes/{vip_id}/referred").json["totalCount"] == 0
    wallet = api.get(f"/members/{alice.id}/wallet").json
    assert wallet["balances"][0]["balance"] == 100


def test_member_signup_through_the_api_with_an_unknown_code_is_422(api, session, org):
    session.commit()
    r = api.post("/members", json={"profile": {"email": "new@example.com"}, "referralCode": "NOPE2345"})
    assert r.status_code == 422 and "referralCode" in r.json["errors"]
    assert api.get("/members?email=new@example.com").json["totalCount"] == 0


def test_another_organisations_programme_code_or_member_is_404(api, session, org, other_org):
    alice = factories.make_member(session, org)
    stranger = factories.make_member(session, other_org)
    session.commit()
    rp = create_program(api)
    code = api.post(f"/referral-programs/{rp['id']}/codes", json={"memberId": alice.id}).json["referralCodes"][0]
    other = api.as_(other_org.api_key)
    other.org = other_org
    assert other.get(f"/referral-programs/{rp['id']}").status_code == 404
    assert other.get(f"/referral-programs/{rp['id']}/report").status_code == 404
    assert other.post(f"/referral-programs/{rp['id']}/codes", json={"memberId": stranger.id}).status_code == 404
    assert api.post(f"/referral-programs/{rp['id']}/codes", json={"memberId": stranger.id}).status_code == 404
    other_rp = other.post("/referral-programs", json=PROGRAM).json["referralProgram"]
    assert other.get(f"/referral-programs/{other_rp['id']}/codes/{code['id']}/referred").status_code == 404


def test_signup_qualifying_programme_pays_at_enrolment(api, session, org):
    alice = factories.make_member(session, org)
    session.commit()
    rp = create_program(api, eventType=earning.MEMBER_CREATED)
    code = api.post(f"/referral-programs/{rp['id']}/codes", json={"memberId": alice.id}).json["referralCodes"][0]
    carol = join(session, org, code["code"], email="carol@example.com")
    session.commit()
    assert api.get(f"/members/{carol.id}/wallet").json["balances"][0]["balance"] == 50
    assert api.get(f"/members/{alice.id}/wallet").json["balances"][0]["balance"] == 100


def test_roles(api, session, org):
    reader = factories.make_key(session, org, ["campaigns:read"])
    session.commit()
    assert api.as_(reader).get("/referral-programs").status_code == 200
    assert api.as_(reader).post("/referral-programs", json=PROGRAM).status_code == 403
