"""Orders in the console: the filtered list, an order's page with what it caused, the staff actions
(each with a required reason), the member page's orders, and who may see and act."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.domain import campaigns, orders
from portal.domain.audit import AuditEntry
from portal.domain.orders import ItemInput, OrderInput, PurchaseOrder
from tests import factories

from .page import page


@pytest.fixture
def earning(session, org):
    campaign = campaigns.create_campaign(session, org.id, code="BASE", name="Earn 1 per euro", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=["order.total > 0"],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    session.commit()
    return campaign


def make_order(session, org, member, external_id="A-1", status="confirmed", total="100", location="BER-01"):
    order = orders.record_order(session, member, OrderInput(
        external_id=external_id, status=status, total=Decimal(total), location_code=location,
        items=[ItemInput(sku="SHOE", quantity=2, unit_price=Decimal(total) / 2, product_category_code="shoes")]),
        actor=org.actor).order
    session.commit()
    return order


def balance(session, org, member) -> int:
    wallet = factories.wallet_of(session, org, member)
    session.refresh(wallet)
    return wallet.balance


# --- the list -----------------------------------------------------------------------------

def test_list_filters_by_member_status_store_and_day(console, signed_in, session, org, other_org, earning):
    alice = factories.make_member(session, org, email="alice@example.com", givenName="Alice")
    bob = factories.make_member(session, org, givenName="Bob")
    make_order(session, org, alice, "A-1")
    make_order(session, org, bob, "B-1", status="created", location="HAM-02")
    make_order(session, other_org, factories.make_member(session, other_org), "X-1")
    rows = lambda query="": page(console.get(f"/console/orders{query}")).texts("#orders-table tbody th a")  # noqa: E731
    assert sorted(rows()) == ["A-1", "B-1"]
    assert rows("?member=alice@example.com") == ["A-1"]
    assert rows(f"?member={bob.loyalty_member_id}") == ["B-1"]
    assert rows("?status=created") == ["B-1"]
    assert rows("?store=HAM-02") == ["B-1"]
    assert rows("?since=2000-01-01&until=2000-01-31") == []
    listing = page(console.get("/console/orders"))
    assert [o.text for o in listing.all("#store option")][1:] == ["BER-01", "HAM-02"]
    assert "Alice" in listing.text("#orders-table")


def test_list_bad_filter_is_an_error_not_a_crash(console, signed_in):
    result = page(console.get("/console/orders?status=lost&since=notaday"))
    assert result.has("#order-rows .form-errors")
    assert not result.has("#orders-table")


def test_list_htmx_gets_only_rows_and_pages(console, signed_in, session, org):
    member = factories.make_member(session, org)
    for n in range(27):
        make_order(session, org, member, f"O-{n:02}", status="created")
    response = console.get("/console/orders?page=2", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and "HX-Request" in response.headers["Vary"]
    assert page(response).texts("#orders-table tbody th a") == ["O-01", "O-00"]


# --- an order's page and the actions ---------------------------------------------------------------

def test_order_page_shows_lines_effects_and_links(console, signed_in, session, org, earning):
    member = factories.make_member(session, org, givenName="Alice")
    order = make_order(session, org, member)
    result = page(console.get(f"/console/orders/{order.id}"))
    assert result.texts("#order-lines tbody th code") == ["SHOE"]
    assert result.text("#order-points") == "100"
    assert "+100 points" in result.text('#order-effects li[data-effect="award_points"]')
    assert result.one('#order-effects li[data-effect="award_points"] a').get("href") == \
        f"/console/campaigns/{earning.id}"
    assert result.one("#order-facts a").get("href") == f"/console/members/{member.id}"


def test_return_half_takes_back_half_the_points_with_the_reason_audited(console, signed_in, session, org,
                                                                         earning):
    member = factories.make_member(session, org)
    order = make_order(session, org, member)
    response = console.post(f"/console/orders/{order.id}/action",
                            {"action": "partial-return", "returned_total": "50", "reason": "one shoe back"})
    assert response.status_code == 302
    session.expire_all()
    order = session.get(PurchaseOrder, order.id)
    assert (order.status, order.returned_total, order.points_awarded) == ("partially-returned", Decimal("50.00"), 50)
    assert balance(session, org, member) == 50
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.partially_returned")).one()
    assert (entry.details["reason"], entry.actor_id) == ("one shoe back", signed_in.id)
    shown = page(console.get(f"/console/orders/{order.id}"))
    assert "one shoe back" in shown.text("#order-history")
    assert "50 points taken back" in shown.text(".flashes")


@pytest.mark.parametrize("action,status,left", [("cancel", "cancelled", 0), ("return", "returned", 0)])
def test_cancel_and_full_return(console, signed_in, session, org, earning, action, status, left):
    member = factories.make_member(session, org)
    order = make_order(session, org, member)
    assert console.post(f"/console/orders/{order.id}/action",
                        {"action": action, "reason": "customer changed mind"}).status_code == 302
    session.expire_all()
    assert session.get(PurchaseOrder, order.id).status == status
    assert balance(session, org, member) == left


def test_confirm_a_created_order_awards_points(console, signed_in, session, org, earning):
    member = factories.make_member(session, org)
    order = make_order(session, org, member, status="created")
    assert console.post(f"/console/orders/{order.id}/action",
                        {"action": "confirm", "reason": "paid by bank transfer"}).status_code == 302
    assert balance(session, org, member) == 100


def test_missing_reason_is_refused_and_nothing_changes(console, signed_in, session, org, earning):
    member = factories.make_member(session, org)
    order = make_order(session, org, member)
    response = console.post(f"/console/orders/{order.id}/action", {"action": "return", "reason": ""})
    assert response.status_code == 422
    assert "Give a reason" in page(response).text("#order-action-form")
    session.expire_all()
    assert session.get(PurchaseOrder, order.id).status == "confirmed"
    assert balance(session, org, member) == 100


def test_domain_refusal_shows_on_the_field(console, signed_in, session, org, earning):
    member = factories.make_member(session, org)
    order = make_order(session, org, member)
    response = console.post(f"/console/orders/{order.id}/action",
                            {"action": "partial-return", "returned_total": "150", "reason": "too much"})
    assert response.status_code == 422
    assert "returnedTotal must be between 0 and total" in page(response).text("#returned_total-error")
    assert balance(session, org, member) == 100


def test_closed_order_offers_no_actions(console, signed_in, session, org):
    order = make_order(session, org, factories.make_member(session, org), status="cancelled")
    assert not page(console.get(f"/console/orders/{order.id}")).has("#order-action-form")
    response = console.post(f"/console/orders/{order.id}/action", {"action": "confirm", "reason": "undo"})
    assert response.status_code == 422
    assert "cancelled" in page(response).text("#order-action-form")


# --- roles and organisations ------------------------------------------------------------------

def test_members_read_user_cannot_see_or_return_orders(console, sign_in_as, session, org, earning):
    member = factories.make_member(session, org)
    order = make_order(session, org, member)
    sign_in_as(["members:read"])
    assert console.get("/console/orders").status_code == 403
    assert console.get(f"/console/orders/{order.id}").status_code == 403
    assert console.post(f"/console/orders/{order.id}/action",
                        {"action": "return", "reason": "try"}).status_code == 403
    assert balance(session, org, member) == 100
    assert not page(console.get(f"/console/members/{member.id}")).has("#member-orders-title")


def test_orders_read_user_sees_but_cannot_act(console, sign_in_as, session, org, earning):
    member = factories.make_member(session, org)
    order = make_order(session, org, member)
    sign_in_as(["orders:read", "members:read"])
    shown = page(console.get(f"/console/orders/{order.id}"))
    assert shown.has("#order-lines") and not shown.has("#order-action-form")
    assert console.post(f"/console/orders/{order.id}/action",
                        {"action": "cancel", "reason": "try"}).status_code == 403
    assert balance(session, org, member) == 100
    assert page(console.get(f"/console/members/{member.id}")).texts("#member-orders tbody th a") == ["A-1"]


def test_foreign_organisations_order_is_a_404(console, signed_in, session, other_org):
    foreign = make_order(session, other_org, factories.make_member(session, other_org), "X-1", status="created")
    assert console.get(f"/console/orders/{foreign.id}").status_code == 404
    assert console.post(f"/console/orders/{foreign.id}/action",
                        {"action": "cancel", "reason": "not mine"}).status_code == 404
    session.expire_all()
    assert session.get(PurchaseOrder, foreign.id).status == "created"


def test_member_page_lists_their_orders_newest_first(console, signed_in, session, org):
    member = factories.make_member(session, org)
    for n in range(12):
        make_order(session, org, member, f"M-{n:02}", status="created")
    make_order(session, org, factories.make_member(session, org), "OTHER", status="created")
    shown = page(console.get(f"/console/members/{member.id}"))
    assert shown.texts("#member-orders tbody th a")[:2] == ["M-11", "M-10"]
    assert len(shown.all("#member-orders tbody tr")) == 10
    assert shown.one("#member-all-orders").get("href").endswith(f"member={member.loyalty_member_id}")
