"""An OAuth access token a member granted a partner app, on the JSON API: that member's own data,
within the granted scopes; anything else 403 or 404 as problem+json. Staff API keys are unchanged."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.api import core
from portal.domain import coupons, partners
from portal.domain.audit import AuditEntry
from portal.domain.coupons import CouponUsage
from portal.domain.members import Identifier
from tests import factories

from .conftest import problem

ALL = "openid profile email wallet:read coupons:read coupons:write"


def setup(session, org, scope=ALL, **member_profile):
    app, _ = factories.make_partner_app(session, org)
    member = factories.make_member(session, org, **member_profile)
    factories.give_points(session, org, member, 120)
    return app, member, factories.member_token(session, app, member, scope)


def offered_book(api, **fields):
    body = {"name": "Coffee", "type": "REWARD", "publishingStatus": "published", "activatable": True, **fields}
    r = api.post("/coupon-books", json=body)
    assert r.status_code == 201, r.json
    return r.json["couponBook"]


def test_a_member_token_reads_its_own_record_wallet_and_transactions(api, session, org):
    app, member, token = setup(session, org)
    me = api.as_(token)
    r = me.get(f"/members/{member.id}")
    assert r.status_code == 200 and r.json["member"]["profile"]["email"] == member.email
    wallet = me.get(f"/members/{member.id}/wallet")
    assert wallet.status_code == 200 and wallet.json["balances"][0]["balance"] == 120
    history = me.get(f"/members/{member.id}/wallet/transactions")
    assert history.status_code == 200 and history.json["totalCount"] == 1
    assert history.json["results"][0]["amount"] == 120 and history.json["results"][0]["type"] == "mint"


def test_a_member_token_on_another_members_data_is_not_found(api, session, org):
    app, member, token = setup(session, org)
    other = factories.make_member(session, org)
    factories.give_points(session, org, other, 50)
    me = api.as_(token)
    for path in (f"/members/{other.id}", f"/members/{other.id}/wallet", f"/members/{other.id}/wallet/transactions",
                 f"/members/{other.id}/account-coupons",
                 f"/loyalty-programs/{org.program.id}/members/{other.id}/coupons"):
        problem(me.get(path), 404, "memberId")
    card = session.scalar(select(Identifier.code).where(Identifier.member_id == other.id))
    # An identifier could name anyone: member tokens name their member by id only, even their own card.
    problem(me.get(f"/members/{card}", headers={"id-type": "CARDCODE"}), 404, "memberId")
    own_card = session.scalar(select(Identifier.code).where(Identifier.member_id == member.id))
    problem(me.get(f"/members/{own_card}", headers={"id-type": "CARDCODE"}), 404, "memberId")


def test_a_scope_the_member_did_not_grant_is_forbidden(api, session, org):
    app, member, token = setup(session, org, scope="openid profile")
    me = api.as_(token)
    assert me.get(f"/members/{member.id}").status_code == 200
    body = problem(me.get(f"/members/{member.id}/wallet"), 403)
    assert "wallet:read" in body["detail"]
    r = me.get(f"/members/{member.id}/wallet")
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    problem(me.get(f"/loyalty-programs/{org.program.id}/members/{member.id}/coupons"), 403)
    book = offered_book(api)
    before = session.scalar(select(func.count()).select_from(CouponUsage))
    problem(me.post(f"/loyalty-programs/{org.program.id}/members/{member.id}/coupon-books/{book['id']}/claim",
                    json={}), 403)
    assert session.scalar(select(func.count()).select_from(CouponUsage)) == before


def test_the_member_record_hides_the_email_without_the_email_scope(api, session, org):
    app, member, token = setup(session, org, scope="profile")
    r = api.as_(token).get(f"/members/{member.id}")
    assert r.status_code == 200 and r.json["member"]["profile"]["email"] is None
    assert r.json["member"]["profile"]["givenName"] == member.given_name


def test_routes_not_opened_to_member_tokens_are_forbidden(api, session, org):
    app, member, token = setup(session, org)
    me = api.as_(token)
    problem(me.get("/members"), 403)
    problem(me.patch(f"/members/{member.id}", json={"profile": {"givenName": "Evil"}}), 403)
    problem(me.post(f"/loyalty-members/{member.loyalty_member_id}/mint", json={"amount": 5, "systemUniqueKey": "x"}),
            403)
    problem(me.get("/coupon-books"), 403)
    problem(me.get("/portals"), 403)
    session.refresh(member)
    assert member.given_name != "Evil"


def test_a_token_of_one_organisation_on_another_is_not_found(api, session, org, other_org):
    app, member, token = setup(session, org)
    stranger = factories.make_member(session, other_org)
    elsewhere = api.as_(token)
    for path in (f"/api/v1/organizations/{other_org.id}/members/{stranger.id}",
                 f"/api/v1/organizations/{other_org.id}/members/{member.id}/wallet"):
        problem(elsewhere.get(path), 404, "organizationId")


def test_claim_and_activate_with_coupons_write(api, session, org):
    app, member, token = setup(session, org)
    me = api.as_(token)
    book = offered_book(api)
    r = me.post(f"/loyalty-programs/{org.program.id}/members/{member.id}/coupon-books/{book['id']}/claim",
                json={"systemUniqueKey": "claim-1"})
    assert r.status_code == 201, r.json
    again = me.post(f"/loyalty-programs/{org.program.id}/members/{member.id}/coupon-books/{book['id']}/claim",
                    json={"systemUniqueKey": "claim-1"})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    held = me.get(f"/members/{member.id}/account-coupons").json["results"]
    assert len(held) == 1
    account_id = held[0]["accountCouponId"]
    assert me.get(f"/account-coupons/{account_id}").status_code == 200
    r = me.patch(f"/account-coupons/{account_id}/activation", json={"activated": True})
    assert r.status_code == 200 and r.json["accountCoupon"]["activation"]["activated"] is True
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "coupon.activated")).all()
    assert audit[-1].actor_kind == "oauth" and audit[-1].actor_id == app.id
    problem(me.post(f"/account-coupons/{account_id}/redeem", json={"systemUniqueKey": "r1"}), 403)


def test_another_members_account_coupon_is_not_found(api, session, org):
    app, member, token = setup(session, org)
    other = factories.make_member(session, org)
    book = offered_book(api)
    assert api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": other.id}).status_code == 201
    theirs = coupons.account_coupon_public_id(org.id, other.id, book["id"])
    me = api.as_(token)
    problem(me.get(f"/account-coupons/{theirs}"), 404, "memberId")
    problem(me.patch(f"/account-coupons/{theirs}/activation", json={"activated": True}), 404, "memberId")
    account = coupons.find_account_coupon(session, other.id, book["id"])
    session.refresh(account)
    assert not account.activated


def test_revoked_expired_and_disabled_tokens_are_unauthorized(api, session, org):
    app, member, token = setup(session, org)
    me = api.as_(token)
    assert me.get(f"/members/{member.id}").status_code == 200
    partners.record_consent(session, app, member, ALL, actor=org.actor)
    partners.disconnect_app(session, member, app.id, actor=org.actor)
    problem(me.get(f"/members/{member.id}"), 401)
    second = factories.member_token(session, app, member, ALL)
    partners.update_app(session, app, actor=org.actor, active=False)
    problem(api.as_(second).get(f"/members/{member.id}"), 401)


def test_staff_api_keys_keep_working(api, session, org):
    app, member, token = setup(session, org)
    assert api.get(f"/members/{member.id}/wallet").status_code == 200
    assert api.get("/members").status_code == 200


def test_a_member_scoped_route_must_say_whose_object_it_reaches():
    """Opening a route to member tokens without naming its member (path or `member_of`) would show a token
    anyone's data: the decorator refuses it when the module is loaded."""
    with pytest.raises(TypeError, match="member_of"):
        core.endpoint("/organizations/<int:organizationId>/things/<thingId>", role="things:read", summary="x",
                      tag="x", member_scope=partners.COUPONS_READ)(lambda call, thingId: None)
    assert all("memberId>" in spec.rule or spec.endpoint.endswith(("get_account_coupon", "set_activation"))
               for spec in core.registry if spec.member_scope)
