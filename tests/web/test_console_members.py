"""Members in the console: list, search, htmx fragments, the member page and its actions."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from portal.domain import members, points, tiers
from portal.domain.audit import AuditEntry
from portal.domain.ledger import LedgerTransaction, Reason
from portal.domain.members import LOCKED
from tests import factories

from .page import page


def balance(session, org, member) -> int:
    wallet = factories.wallet_of(session, org, member)
    session.refresh(wallet)
    return wallet.balance


def tx_count(session) -> int:
    return session.scalar(select(func.count()).select_from(LedgerTransaction))


# --- list and search ------------------------------------------------------------------

def test_list_shows_only_own_organisation_members(console, signed_in, org, other_org, session):
    mine = factories.make_member(session, org, givenName="Olivia", familyName="Own")
    factories.make_member(session, other_org, givenName="Xavier", familyName="Foreign")
    factories.give_points(session, org, mine, 120)
    session.commit()
    listing = page(console.get("/console/members"))
    names = listing.texts("#members-table tbody tr td:first-child a")
    assert "Olivia Own" in names
    assert not any("Xavier" in n for n in names)
    row = listing.one("#members-table tbody tr")
    assert "120" in listing.texts("#members-table tbody td.num")
    assert members.card_code_of(session, mine.id) in " ".join(listing.texts("#members-table code"))
    assert row is not None


def test_search_matches_every_word(console, signed_in, org, session):
    factories.make_member(session, org, givenName="Anna", familyName="Schmidt", city="Berlin")
    factories.make_member(session, org, givenName="Anna", familyName="Weber", city="Hamburg")
    factories.make_member(session, org, givenName="Ben", familyName="Schmidt", city="Berlin")
    session.commit()
    result = page(console.get("/console/members?q=anna+berlin"))
    assert result.texts("#members-table tbody td:first-child a") == ["Anna Schmidt"]
    assert result.one("#q").get("value") == "anna berlin"


def test_search_with_date_and_word_shows_the_domain_error(console, signed_in, org):
    result = page(console.get("/console/members?q=1990-01-01+anna"))
    assert "cannot be combined" in result.text("#member-rows .form-errors")
    assert not result.has("#members-table")


def test_htmx_request_gets_only_the_rows_partial(console, signed_in, org, session):
    factories.make_member(session, org, givenName="Hilda", familyName="Htmx")
    session.commit()
    response = console.get("/console/members?q=hilda", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in html and "<nav class=\"sidenav\"" not in html
    assert page(response).texts("#members-table tbody td:first-child a") == ["Hilda Htmx"]
    full = console.get("/console/members?q=hilda")
    assert "<html" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]


def test_history_restore_gets_the_whole_page(console, signed_in, org):
    response = console.get("/console/members", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)
    assert page(response).has("nav.sidenav")


def test_members_are_paged(console, signed_in, org, session):
    for n in range(23):
        factories.make_member(session, org, givenName="Pat", familyName=f"Pager{n:02d}")
    session.commit()
    first = page(console.get("/console/members?q=pat"))
    second = page(console.get("/console/members?q=pat&page=2"))
    first_names = first.texts("#members-table tbody td:first-child a")
    second_names = second.texts("#members-table tbody td:first-child a")
    assert len(first_names) == 20 and len(second_names) == 3
    assert not set(first_names) & set(second_names)
    assert "Page 1 of 2" in first.text(".pager")
    next_link = first.one(".pager a[rel=next]")
    assert next_link.get("href") == "/console/members?page=2&q=pat"
    assert next_link.get("hx-target") == "#member-rows"


# --- the member page ------------------------------------------------------------------------

def test_member_page_shows_profile_identifiers_balance_history_and_tier(console, signed_in, org, session):
    factories.make_tiers(session, org)
    member = factories.make_member(session, org, givenName="Mara", familyName="Detail", city="Köln")
    factories.give_points(session, org, member, 300)
    points.mint_to_member(session, member, 600, actor=org.actor, reason=Reason("Tier points for a purchase"),
                          account_id=org.program.tier_points_account_id)
    session.commit()
    detail = page(console.get(f"/console/members/{member.id}"))
    assert detail.text("h1") == "Mara Detail"
    assert detail.text("#points-balance") == "300"
    assert [r.split()[:2] for r in detail.texts("#balances-table tbody tr")] == [["Points", "300"], ["Tier", "points"]]
    assert members.card_code_of(session, member.id) in detail.text(".identifiers")
    assert "Köln" in detail.text(".facts")
    assert detail.text("#current-tier") == "Silver"
    assert detail.text("label[for=tier-progress]") == "900 more to Gold"
    progress = detail.one("#tier-progress")
    assert (progress.get("value"), progress.get("max")) == ("100", "1000")
    first_row = detail.texts("#history-table tbody tr")[0]
    assert "+300" in first_row and "mint" in first_row
    tier_row = detail.texts("#tier-history-table tbody tr")[0]
    assert "Silver" in tier_row and "auto" in tier_row


def test_other_organisations_member_is_not_found(console, signed_in, other_org, session):
    foreign = factories.make_member(session, other_org)
    session.commit()
    before = tx_count(session)
    assert console.get(f"/console/members/{foreign.id}").status_code == 404
    response = console.post(f"/console/members/{foreign.id}/points",
                            {"adjust-amount": "10", "adjust-reason": "sneaky"})
    assert response.status_code == 404
    assert "Not found" in page(response).text("h1")
    assert console.post(f"/console/members/{foreign.id}/status", {"status-account_status": "LOCKED"}).status_code == 404
    assert tx_count(session) == before
    session.refresh(foreign)
    assert foreign.account_status == "ACTIVE"


def test_history_is_paged_with_an_htmx_partial(console, signed_in, org, session):
    member = factories.make_member(session, org)
    for n in range(1, 18):
        factories.give_points(session, org, member, n)
    session.commit()
    response = console.get(f"/console/members/{member.id}?page=2", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and "HX-Request" in response.headers["Vary"]
    rows = page(response).texts("#history-table tbody tr")
    assert len(rows) == 2  # 17 movements, 15 per page
    assert rows[0].split()[3] == "+2" and rows[1].split()[3] == "+1"


# --- points adjustment --------------------------------------------------------------------------

def test_adjustment_without_reason_shows_error_on_reason_and_writes_nothing(console, signed_in, org, session):
    member = factories.make_member(session, org)
    session.commit()
    before = tx_count(session)
    response = console.post(f"/console/members/{member.id}/points", {"adjust-amount": "50", "adjust-reason": "  "})
    assert response.status_code == 422
    result = page(response)
    assert "reason" in result.text("#adjust-reason-error").lower()
    assert result.one("#adjust-reason").get("aria-invalid") == "true"
    assert not result.has("#adjust-amount-error")
    assert result.one("#adjust-amount").get("value") == "50"  # what was typed is kept
    assert tx_count(session) == before
    assert balance(session, org, member) == 0


def test_adjustment_adds_points_and_history_shows_reason_and_who(console, signed_in, org, session):
    member = factories.make_member(session, org)
    session.commit()
    response = console.post(f"/console/members/{member.id}/points",
                            {"adjust-amount": "75", "adjust-reason": "Goodwill for a late order"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/console/members/{member.id}"
    assert balance(session, org, member) == 75
    detail = page(console.get(response.headers["Location"]))
    assert "+75 points recorded: Goodwill for a late order" in detail.text(".flashes")
    assert detail.text("#points-balance") == "75"
    row = detail.texts("#history-table tbody tr")[0]
    assert "+75" in row and "Goodwill for a late order" in row and signed_in.email in row and "adjustment" in row
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.minted")
                            .order_by(AuditEntry.id.desc())).first()
    assert audit.actor_kind == "staff" and audit.actor_id == signed_in.id


def test_negative_adjustment_beyond_balance_shows_error_on_amount(console, signed_in, org, session):
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 30)
    session.commit()
    before = tx_count(session)
    response = console.post(f"/console/members/{member.id}/points",
                            {"adjust-amount": "-31", "adjust-reason": "Remove duplicate"})
    assert response.status_code == 422
    assert "Not enough points" in page(response).text("#adjust-amount-error")
    assert tx_count(session) == before and balance(session, org, member) == 30
    ok = console.post(f"/console/members/{member.id}/points", {"adjust-amount": "-30", "adjust-reason": "Remove"})
    assert ok.status_code == 302 and balance(session, org, member) == 0


def test_amount_must_be_a_whole_nonzero_number(console, signed_in, org, session):
    member = factories.make_member(session, org)
    session.commit()
    for amount in ("1.5", "abc", ""):
        response = console.post(f"/console/members/{member.id}/points",
                                {"adjust-amount": amount, "adjust-reason": "typo"})
        assert response.status_code == 422
        assert page(response).text("#adjust-amount-error")
    zero = console.post(f"/console/members/{member.id}/points", {"adjust-amount": "0", "adjust-reason": "nothing"})
    assert "other than 0" in page(zero).text("#adjust-amount-error")
    assert balance(session, org, member) == 0


def test_double_submit_of_one_form_adjusts_once(console, signed_in, org, session):
    member = factories.make_member(session, org)
    session.commit()
    form = {"adjust-amount": "40", "adjust-reason": "Birthday bonus", "adjust-key": "a1b2c3"}
    assert console.post(f"/console/members/{member.id}/points", form).status_code == 302
    again = console.post(f"/console/members/{member.id}/points", form)
    assert again.status_code == 302
    assert "already recorded" in page(console.get(again.headers["Location"])).text(".flashes")
    assert balance(session, org, member) == 40


def test_staff_without_ledgers_write_gets_403_and_no_form(console, make_staff, org, session):
    reader = make_staff(["members:read"])
    member = factories.make_member(session, org)
    session.commit()
    console.login(reader.email)
    detail = page(console.get(f"/console/members/{member.id}"))
    assert not detail.has("#adjust-form") and not detail.has("#status-form") and not detail.has("#tier-form")
    response = console.post(f"/console/members/{member.id}/points", {"adjust-amount": "5", "adjust-reason": "x"})
    assert response.status_code == 403
    assert "do not have access" in page(response).text("h1")
    assert balance(session, org, member) == 0


# --- account status and tiers -----------------------------------------------------------------------

def test_lock_and_unlock_account(console, signed_in, org, session):
    member = factories.make_member(session, org)
    session.commit()
    detail = page(console.get(f"/console/members/{member.id}"))
    assert detail.one("#status-account_status").get("value") == LOCKED
    response = console.post(f"/console/members/{member.id}/status",
                            {"status-account_status": "LOCKED", "status-reason": "Card reported stolen"})
    assert response.status_code == 302
    session.refresh(member)
    assert member.account_status == LOCKED
    detail = page(console.get(f"/console/members/{member.id}"))
    assert "Account locked." in detail.text(".flashes")
    assert detail.text("#status-form button") == "Unlock account"
    # A locked account cannot receive points: the domain says so on the form.
    refused = console.post(f"/console/members/{member.id}/points", {"adjust-amount": "5", "adjust-reason": "test"})
    assert refused.status_code == 422
    assert "not active" in page(refused).text("#adjust-form .form-errors")
    console.post(f"/console/members/{member.id}/status", {"status-account_status": "ACTIVE"})
    session.refresh(member)
    assert member.account_status == "ACTIVE"


def test_invalid_status_is_refused(console, signed_in, org, session):
    member = factories.make_member(session, org)
    session.commit()
    response = console.post(f"/console/members/{member.id}/status", {"status-account_status": "DELETED"})
    assert response.status_code == 422
    assert "ACTIVE or LOCKED" in page(response).text("#status-reason-error")
    session.refresh(member)
    assert member.account_status == "ACTIVE"


def test_set_tier_by_hand_with_expiry(console, signed_in, org, session):
    bronze, silver, gold = factories.make_tiers(session, org)
    member = factories.make_member(session, org)
    session.commit()
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    response = console.post(f"/console/members/{member.id}/tier",
                            {"tier-tier": str(gold.id), "tier-expires_on": expires, "tier-reason": "VIP guest"})
    assert response.status_code == 302
    tier, state = tiers.current_tier(session, member.id, org.program.id)
    assert tier.id == gold.id and state.source == "manual"
    assert state.expires_at.date().isoformat() == expires
    detail = page(console.get(f"/console/members/{member.id}"))
    assert detail.text("#current-tier") == "Gold"
    history_row = detail.texts("#tier-history-table tbody tr")[0]
    assert "Gold" in history_row and "VIP guest" in history_row and signed_in.email in history_row


def test_set_tier_with_past_expiry_shows_error_on_expiry(console, signed_in, org, session):
    _, _, gold = factories.make_tiers(session, org)
    member = factories.make_member(session, org)
    session.commit()
    response = console.post(f"/console/members/{member.id}/tier",
                            {"tier-tier": str(gold.id), "tier-expires_on": "2020-01-01"})
    assert response.status_code == 422
    assert "future" in page(response).text("#tier-expires_on-error")
    assert tiers.current_tier(session, member.id, org.program.id)[0] is None


def test_set_tier_refuses_another_programmes_tier(console, signed_in, org, other_org, session):
    foreign_tiers = factories.make_tiers(session, other_org)
    member = factories.make_member(session, org)
    session.commit()
    response = console.post(f"/console/members/{member.id}/tier", {"tier-tier": str(foreign_tiers[2].id)})
    assert response.status_code == 422
    assert page(response).text("#tier-tier-error")
    assert tiers.current_tier(session, member.id, org.program.id)[0] is None


# --- dashboard ------------------------------------------------------------------------------------

def test_dashboard_counts(console, signed_in, org, other_org, session):
    bronze, silver, _ = factories.make_tiers(session, org)
    a = factories.make_member(session, org)
    b = factories.make_member(session, org)
    factories.make_member(session, other_org)
    factories.give_points(session, org, a, 200)
    factories.give_points(session, org, b, 50)
    session.commit()
    console.post(f"/console/members/{a.id}/points", {"adjust-amount": "-20", "adjust-reason": "Correction"})
    console.post(f"/console/members/{b.id}/tier", {"tier-tier": str(silver.id)})
    dashboard = page(console.get("/console/"))
    assert dashboard.text("#stat-members") == "2"
    assert dashboard.text("#stat-minted") == "250"
    assert dashboard.text("#stat-burned") == "20"
    assert dashboard.text("#stat-circulating") == "230"
    rows = {r.split()[0]: r for r in dashboard.texts("#tier-distribution tbody tr")}
    assert rows["Silver"].split()[1] == "1"
    assert rows["Bronze"].split()[1] == "0"
    assert dashboard.texts("#tier-distribution tbody tr")[-1].startswith("No tier 1")
