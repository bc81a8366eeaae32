"""Member coupons: offers with their cost, claim (also replayed), refusals in the
member's language, activation, the code as Code128 and QR, the coupon PDF, the
history tab, htmx fragments from the page's own URL, CSRF, login, and another
member's coupon never reachable (404)."""
from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from sqlalchemy import func, select

from portal.domain import cards, coupons, members
from portal.domain.actors import system_actor
from portal.domain.base import utcnow

from tests import factories

from .member_helpers import logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401
from .page import page, text_of
from .test_member_card import bars_to_modules


def make_book(session, org, **fields):
    book = factories.make_book(session, org, **fields)
    session.commit()
    return book


def with_codes(session, book, count=3, prefix="CUP-"):
    coupons.generate_codes(session, book, count, actor=system_actor(book.organization_id, "test"), prefix=prefix)
    session.commit()
    return book


def held(session, owner):
    session.expire_all()
    return coupons.member_coupons(session, owner, limit=100).items


def card_of(doc, book):
    [card] = doc.all(f'li.coupon[data-book="{book.id}"]')
    return card


def card_text(doc, book):
    return text_of(card_of(doc, book))


def claim(portal, book, key="a-key-of-sixteen-chars", next=None, **kwargs):
    data = {"request_key": key}
    if next is not None:
        data["next"] = next
    return portal.submit(f"/coupons/books/{book.id}/claim", data, token_from="/coupons", **kwargs)


def act(portal, coupon_id, action, next=None, **kwargs):
    data = {} if next is None else {"next": next}
    return portal.submit(f"/coupons/{coupon_id}/{action}", data, token_from="/coupons", **kwargs)


def flashes(response_or_doc):
    doc = response_or_doc if hasattr(response_or_doc, "all") else page(response_or_doc)
    return [text_of(p) for p in doc.all(".flash")]


@pytest.fixture
def coffee(session, org):
    return make_book(session, org, name="Free coffee", usage_required_points=100,
                     valid_to=utcnow() + dt.timedelta(days=40),
                     i18n={"en": {"title": "Free coffee", "subtitle": "Any size",
                                  "description": "Swap 100 points for a coffee."},
                           "de": {"title": "Gratis Kaffee", "subtitle": "Jede Größe",
                                  "description": "Tausche 100 Punkte gegen einen Kaffee."}})


@pytest.fixture
def ten_off(session, org):
    book = make_book(session, org, name="10 % off", type=coupons.DISCOUNT, discount_type=coupons.PERCENTAGE,
                     discount_amount=10, activatable=True, max_assigned_per_member=1,
                     i18n={"en": {"title": "10 % off your next order"},
                           "de": {"title": "10 % auf den nächsten Einkauf"}})
    return with_codes(session, book, 3, prefix="TEN-")


# --- the page and claiming -------------------------------------------------------------------

def test_offers_show_value_validity_and_cost_and_a_claim_moves_the_coupon_to_the_member(
        portal, logged_in, session, org, coffee, ten_off):
    pricey = make_book(session, org, name="Cinema ticket", assignment_required_points=50)
    factories.give_points(session, org, logged_in, 20)
    session.commit()

    doc = portal.page("/coupons")
    assert doc.text("h1") == "Coupons"
    assert "You have no coupons at the moment." in doc.text("#coupons-panel")
    offer = card_text(doc, coffee)
    assert "Reward" in offer and "Reward for 100 points" in offer and "Free coffee" in offer and "Any size" in offer
    assert "Swap 100 points for a coffee." in offer and "Valid until" in offer and "Free to claim" in offer
    assert "10 % off" in card_text(doc, ten_off) and "One per member" in card_text(doc, ten_off)
    # A book the member cannot afford says why, and offers no button.
    assert text_of(card_of(doc, pricey).find(".//*[@data-testid='cost']")) == "Costs 50 points"
    assert "You need 50 points to claim this coupon." in card_text(doc, pricey)
    assert not page_has_button(card_of(doc, pricey), "Claim")
    # A reward with no price at the till shows no value line, only its tag.
    assert not [e for e in card_of(doc, pricey).iter() if e.get("class") == "coupon__value"]
    assert page_has_button(card_of(doc, coffee), "Claim")

    response = claim(portal, ten_off, next="/coupons")
    assert response.status_code == 303 and response.location == "/coupons"
    [mine] = held(session, logged_in)
    assert mine.book.id == ten_off.id and mine.code.startswith("TEN-") and mine.state == "available"
    doc = portal.page("/coupons")
    assert flashes(doc) == ["Claimed: 10 % off your next order"]
    held_card = text_of(doc.one(f'#held-heading ~ ul li.coupon[data-book="{ten_off.id}"]'))
    assert "1 coupon left" in held_card and "Not activated: activate it before you shop." in held_card
    assert doc.one(f'#held-heading ~ ul a[href="/coupons/{mine.assignment.id}"]') is not None
    # The per-member limit is reached: no longer offered, since the member holds it.
    assert not doc.has(f'#offers-heading ~ ul li.coupon[data-book="{ten_off.id}"]')
    assert doc.has(f'#offers-heading ~ ul li.coupon[data-book="{coffee.id}"]')
    assert doc.text(".tabs a[aria-current=page]") == "Current 1"


def page_has_button(element, label: str) -> bool:
    return any(text_of(b).startswith(label) for b in element.iter() if str(b.tag).endswith("button"))


def test_the_same_claim_form_sent_twice_gives_one_coupon(portal, logged_in, session, coffee):
    first = claim(portal, coffee, key="double-click-0123456789")
    second = claim(portal, coffee, key="double-click-0123456789")
    assert first.status_code == second.status_code == 303
    assert len(held(session, logged_in)) == 1
    claim(portal, coffee, key="another-form-0123456789")
    assert len(held(session, logged_in)) == 2
    doc = portal.page("/coupons")
    assert "2 coupons left" in text_of(doc.one(f'#held-heading ~ ul li.coupon[data-book="{coffee.id}"]'))
    # Codeless coupons of one book look the same at the till: one link for both.
    assert len(doc.all(f'#held-heading ~ ul li.coupon[data-book="{coffee.id}"] a.button')) == 1


@pytest.mark.parametrize("setup, message", [
    ("points", "You need 50 points to claim this coupon."),
    ("limit", "You already have as many of these coupons as one member can get."),
    ("sold_out", "All of these coupons have been given out."),
    ("draft", "This coupon is not on offer any more."),
    ("tier", "This coupon is for members of another tier."),
    ("ended", "This coupon has expired."),
])
def test_refusals_are_shown_as_a_clear_message(portal, logged_in, session, org, make_member, setup, message):
    if setup == "points":
        book = make_book(session, org, assignment_required_points=50)
    elif setup == "limit":
        book = make_book(session, org, max_assigned_per_member=1)
        claim(portal, book, key="first-claim-0123456789")
    elif setup == "sold_out":
        book = make_book(session, org, max_coupon_count=1)
        coupons.claim_coupon(session, make_member(), book, actor=org.actor)
        session.commit()
    elif setup == "draft":
        book = make_book(session, org, publishing_status=coupons.DRAFT)
    elif setup == "tier":
        gold = factories.make_tiers(session, org)[2]
        book = make_book(session, org, tiers=[str(gold.id)])
    else:
        book = make_book(session, org, valid_from=utcnow() - dt.timedelta(days=9),
                         valid_to=utcnow() - dt.timedelta(days=1))
    before = len(held(session, logged_in))
    response = claim(portal, book, key="refused-claim-0123456789")
    assert response.status_code == 303 and response.location == "/coupons"
    doc = portal.page("/coupons")
    assert doc.all(".flash--error") and flashes(doc) == [message]
    assert len(held(session, logged_in)) == before


def test_refusals_and_texts_come_in_the_members_language(portal, logged_in, session, org, coffee):
    logged_in.locale = "de"
    session.commit()
    pricey = make_book(session, org, name="Kino", assignment_required_points=1500,
                       i18n={"de": {"title": "Kinokarte"}})
    doc = portal.page("/coupons")
    assert doc.text("h1") == "Coupons" and doc.text("#offers-heading") == "Coupons zum Holen"
    assert "Gratis Kaffee" in card_text(doc, coffee) and "Jede Größe" in card_text(doc, coffee)
    assert "Prämie für 100 Punkte" in card_text(doc, coffee)
    assert "Sie brauchen 1.500 Punkte für diesen Coupon." in card_text(doc, pricey)
    claim(portal, pricey, key="german-refusal-0123456789")
    assert flashes(portal.page("/coupons")) == ["Sie brauchen 1.500 Punkte für diesen Coupon."]
    claim(portal, coffee, key="german-claim-0123456789")
    assert flashes(portal.page("/coupons")) == ["Erhalten: Gratis Kaffee"]


def test_claiming_needs_a_valid_form_and_a_book_of_the_members_organisation(portal, logged_in, session, org,
                                                                            other_org, coffee):
    foreign = make_book(session, other_org, name="Elsewhere")
    assert claim(portal, foreign).status_code == 404
    assert claim(portal, coffee, key="short").status_code == 400
    assert portal.submit("/coupons/books/999999999/claim", {"request_key": "x" * 20},
                         token_from="/coupons").status_code == 404
    assert portal.submit(f"/coupons/books/{2 ** 70}/claim", {"request_key": "x" * 20},
                         token_from="/coupons").status_code == 404
    assert held(session, logged_in) == []
    # The way back is a path of this site only.
    assert claim(portal, coffee, next="https://evil.example/").location == "/coupons"


def test_a_coupon_claimed_before_it_starts_says_so(portal, logged_in, session, org):
    starts = utcnow() + dt.timedelta(days=3)
    book = make_book(session, org, name="Spring sale", valid_from=starts, valid_to=starts + dt.timedelta(days=7))
    claim(portal, book)
    [mine] = held(session, logged_in)
    assert mine.state == "upcoming"
    card = text_of(portal.page("/coupons").one(f'#held-heading ~ ul li.coupon[data-book="{book.id}"]'))
    assert "Not valid yet" in card and "Valid from" in card
    assert portal.page(f"/coupons/{mine.assignment.id}").text("[data-testid=coupon-state]") == "Not valid yet"


# --- activation -------------------------------------------------------------------------------

def test_activate_and_deactivate_an_activatable_coupon(portal, logged_in, session, org, ten_off):
    claim(portal, ten_off)
    [mine] = held(session, logged_in)
    doc = portal.page(f"/coupons/{mine.assignment.id}")
    assert doc.text(".ticket .coupon__status") == "Not activated: activate it before you shop."
    assert "The till accepts it only once it is activated." in doc.text(".hint")

    response = act(portal, mine.assignment.id, "activate")
    assert response.status_code == 303 and response.location == f"/coupons/{mine.assignment.id}"
    account = coupons.find_account_coupon(session, logged_in.id, ten_off.id)
    session.refresh(account)
    assert account.activated is True and account.last_activation_date is not None
    doc = portal.page(f"/coupons/{mine.assignment.id}")
    assert flashes(doc) == ["Activated: 10 % off your next order"]
    assert doc.text(".ticket .coupon__status") == "Activated"
    assert page_has_button(doc.one(".ticket__activation"), "Deactivate")

    act(portal, mine.assignment.id, "deactivate", next="/coupons")
    session.refresh(account)
    assert account.activated is False
    doc = portal.page("/coupons")
    assert flashes(doc) == ["Deactivated: 10 % off your next order"]
    assert "Not activated" in text_of(doc.one(f'#held-heading ~ ul li.coupon[data-book="{ten_off.id}"]'))


def test_a_coupon_that_is_always_active_cannot_be_switched(portal, logged_in, session, coffee):
    claim(portal, coffee)
    [mine] = held(session, logged_in)
    doc = portal.page(f"/coupons/{mine.assignment.id}")
    assert not doc.has(".ticket__activation")
    act(portal, mine.assignment.id, "activate")
    assert flashes(portal.page(f"/coupons/{mine.assignment.id}")) == [
        "This coupon is always active; there is nothing to switch."]


# --- the code for the till and the PDF ----------------------------------------------------------

def test_a_coupon_shows_its_code_as_code128_and_qr(portal, logged_in, session, ten_off):
    claim(portal, ten_off)
    [mine] = held(session, logged_in)
    response = portal.get(f"/coupons/{mine.assignment.id}")
    html = response.get_data(as_text=True)
    doc = page(response)
    assert doc.text("h1") == "10 % off your next order"
    assert doc.text("[data-testid=coupon-code]") == mine.code
    assert doc.text("[data-testid=coupon-state]") == "Ready to use"
    assert doc.text(".ticket__value") == "10 % off"
    barcode_svg = re.search(r'<svg[^>]*class="barcode".*?</svg>', html, re.S).group(0)
    assert f'aria-label="Barcode of coupon code {mine.code}"' in barcode_svg
    assert bars_to_modules(barcode_svg) == cards.code128_modules(mine.code).strip("0")
    qr_svg = re.search(r'<svg[^>]*class="qrcode".*?</svg>', html, re.S).group(0)
    assert f'aria-label="QR code of coupon code {mine.code}"' in qr_svg
    assert doc.one(f'a[href="/coupons/{mine.assignment.id}.pdf"]').get("download") is not None
    assert response.headers["Vary"] and "HX-Request" in response.headers["Vary"]


def test_a_coupon_without_a_code_shows_the_card_number(portal, logged_in, session, coffee):
    claim(portal, coffee)
    [mine] = held(session, logged_in)
    card_code = members.card_code_of(session, logged_in.id)
    doc = portal.page(f"/coupons/{mine.assignment.id}")
    assert doc.text("[data-testid=coupon-code]") == card_code
    assert "the till finds it on your account with your card number" in doc.text(".hint")
    assert f'aria-label="Barcode of card number {card_code}"' in doc.html


def test_a_coupon_that_applies_by_itself_has_nothing_to_scan(portal, logged_in, session, org):
    bonus = make_book(session, org, name="50 bonus points", type=coupons.EXTRAPOINT, discount_amount=50,
                      condition={"minTotal": 20})
    claim(portal, bonus)
    [mine] = held(session, logged_in)
    doc = portal.page(f"/coupons/{mine.assignment.id}")
    assert "applies by itself when you shop with your card" in doc.text(".ticket")
    assert doc.text(".ticket__value") == "50 extra points"
    assert "With a purchase of €20.00 or more" in doc.text(".ticket")
    assert not doc.has("[data-testid=coupon-code]") and not doc.has('a[href$=".pdf"]')
    assert portal.get(f"/coupons/{mine.assignment.id}.pdf").status_code == 404


def test_the_coupon_pdf_holds_the_code_as_text_and_a_barcode_image(portal, logged_in, session, ten_off, tmp_path):
    claim(portal, ten_off)
    [mine] = held(session, logged_in)
    response = portal.get(f"/coupons/{mine.assignment.id}.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="coupon-{mine.assignment.id}.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"%PDF-") and response.data.rstrip().endswith(b"%%EOF")
    path = tmp_path / "coupon.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    assert mine.code in text and "10 % off your next order" in text and "Mara Moos" in text
    listing = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True,
                             text=True).stdout.splitlines()[2:]
    images = [line.split() for line in listing if line.strip()]
    assert len(images) == 2  # the Code128 barcode and the QR code
    widths = sorted(int(row[3]) for row in images)
    assert abs(widths[-1] - 3 * (len(cards.code128_modules(mine.code)) + 2 * cards.QUIET_ZONE_MODULES)) <= 2


# --- history -------------------------------------------------------------------------------------

def test_used_and_expired_coupons_move_to_the_history_tab(portal, logged_in, session, org, coffee, ten_off):
    short = make_book(session, org, name="Weekend deal", valid_to=utcnow() + dt.timedelta(days=2))
    factories.give_points(session, org, logged_in, 150)
    session.commit()
    for book in (coffee, ten_off, short):
        claim(portal, book, key=f"history-claim-{book.id}-0123456789")
    coupons.use_coupon(session, logged_in, coffee, actor=org.actor)
    coupons.update_book(session, short, actor=org.actor, valid_to=utcnow() - dt.timedelta(minutes=1))
    session.commit()
    states = {c.book.id: c for c in held(session, logged_in)}
    assert states[coffee.id].state == "used" and states[short.id].state == "expired"

    doc = portal.page("/coupons")
    held_books = {int(li.get("data-book")) for li in doc.all("#held-heading ~ ul li.coupon")}
    assert held_books == {ten_off.id}
    assert doc.texts(".tabs a") == ["Current 1", "History 2"]

    doc = portal.page("/coupons?tab=history")
    assert doc.text(".tabs a[aria-current=page]") == "History 2"
    assert not doc.has("#held-heading") and not doc.has("#offers-heading")
    rows = {int(tr.get("data-coupon")): [text_of(td) for td in tr if str(td.tag).endswith("td")]
            for tr in doc.all(".coupon-history tbody tr")}
    assert set(rows) == {states[coffee.id].assignment.id, states[short.id].assignment.id}
    assert rows[states[coffee.id].assignment.id][1] == "Used"
    assert rows[states[short.id].assignment.id][1] == "Expired"
    assert "Free coffee" in rows[states[coffee.id].assignment.id][0]
    # A used coupon can be looked at, but has nothing to scan or print.
    used = portal.page(f"/coupons/{states[coffee.id].assignment.id}")
    assert used.text("[data-testid=coupon-state]") == "Used"
    assert "This coupon can no longer be used." in used.text(".ticket") and not used.has("svg")
    assert portal.get(f"/coupons/{states[coffee.id].assignment.id}.pdf").status_code == 404
    # Coupons are addressed by their assignment; the id of the use row names nothing.
    use_id = session.scalar(select(coupons.CouponUsage.id).where(
        coupons.CouponUsage.assignment_id == states[coffee.id].assignment.id))
    assert portal.get(f"/coupons/{use_id}").status_code == 404


def test_the_history_is_paged(portal, logged_in, session, org):
    book = make_book(session, org, name="Stamp")
    for n in range(12):
        coupons.use_coupon(session, logged_in, book, actor=org.actor)
    session.commit()
    first = portal.page("/coupons?tab=history")
    assert len(first.all(".coupon-history tbody tr")) == 10
    older = first.one(".pager a[rel=next]").get("href")
    assert older == "/coupons?tab=history&page=1"
    second = portal.page(older)
    assert len(second.all(".coupon-history tbody tr")) == 2 and second.has(".pager a[rel=prev]")


# --- htmx ------------------------------------------------------------------------------------------

def test_htmx_gets_the_panel_from_the_pages_own_url_also_after_a_claim(portal, logged_in, session, coffee):
    full = portal.get("/coupons")
    assert "HX-Request" in full.headers["Vary"] and "<html" in full.get_data(as_text=True)
    fragment = portal.get("/coupons?tab=history", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in html and html.lstrip().startswith('<div id="coupons-panel"')
    assert page(fragment).one("#coupons-panel") is not None and page(fragment).text(
        ".tabs a[aria-current=page]") == "History 0"

    response = claim(portal, coffee, next="/coupons", headers={"HX-Request": "true"})
    assert response.status_code == 303 and response.location == "/coupons"
    after = portal.get(response.location, headers={"HX-Request": "true"})
    doc = page(after)
    assert "<html" not in after.get_data(as_text=True)
    assert flashes(doc) == ["Claimed: Free coffee"] and doc.has(f'#held-heading ~ ul li[data-book="{coffee.id}"]')
    # The message was shown in the fragment, so the next full page does not repeat it.
    assert flashes(portal.page("/coupons")) == []

    [mine] = held(session, logged_in)
    detail = portal.get(f"/coupons/{mine.assignment.id}", headers={"HX-Request": "true"})
    assert "<html" not in detail.get_data(as_text=True) and page(detail).has("#coupon-detail")
    assert "HX-Request" in detail.headers["Vary"]


def test_a_history_restore_gets_the_whole_page(portal, logged_in):
    response = portal.get("/coupons", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)


# --- access -----------------------------------------------------------------------------------------

def test_coupon_pages_need_a_member(portal, session, org, coffee):
    for path in ("/coupons", "/coupons/1", "/coupons/1.pdf"):
        response = portal.get(path)
        assert response.status_code == 302 and response.location.startswith("/login?next="), path
    token = portal.csrf("/login")
    for path in (f"/coupons/books/{coffee.id}/claim", "/coupons/1/activate", "/coupons/1/deactivate"):
        response = portal.client.post(path, data={"csrf_token": token, "request_key": "x" * 20})
        assert response.status_code == 302 and response.location.startswith("/login"), path
    hx = portal.get("/coupons", headers={"HX-Request": "true"})
    assert hx.status_code == 401 and hx.headers["HX-Redirect"].startswith("/login")
    assert session.scalar(select(func.count()).select_from(coupons.CouponUsage)) == 0


def test_csrf_is_required_on_every_coupon_form(portal, logged_in, session, ten_off):
    claim(portal, ten_off)
    [mine] = held(session, logged_in)
    for path in (f"/coupons/books/{ten_off.id}/claim", f"/coupons/{mine.assignment.id}/activate",
                 f"/coupons/{mine.assignment.id}/deactivate"):
        response = portal.client.post(path, data={"request_key": "y" * 20, "next": "/coupons"})
        assert response.status_code == 400, path
        assert "This form has expired" in page(response).text("h1")
    assert len(held(session, logged_in)) == 1
    assert coupons.find_account_coupon(session, logged_in.id, ten_off.id).activated is False


def test_another_members_coupon_is_not_found(portal, logged_in, session, org, other_org, make_member, ten_off):
    neighbour = make_member(givenName="Nina", familyName="Nachbar")
    coupons.claim_coupon(session, neighbour, ten_off, actor=org.actor)
    session.commit()
    [theirs] = held(session, neighbour)
    stranger = factories.make_member(session, other_org)
    foreign_book = make_book(session, other_org, name="Elsewhere")
    coupons.claim_coupon(session, stranger, foreign_book, actor=other_org.actor)
    session.commit()
    [foreign] = held(session, stranger)
    uses = coupons.CouponUsage
    use_row = coupons.use_coupon(session, neighbour, make_book(session, org, name="Used one"),
                                 actor=org.actor).usages[-1]
    session.commit()
    assert use_row.kind == "use"

    not_found = portal.get("/coupons/999999999")
    for coupon_id in (theirs.assignment.id, foreign.assignment.id, use_row.id):
        for path in (f"/coupons/{coupon_id}", f"/coupons/{coupon_id}.pdf"):
            response = portal.get(path)
            assert response.status_code == 404, path
            assert page(response).text("h1") == page(not_found).text("h1") == "Page not found"
        for action in ("activate", "deactivate"):
            assert act(portal, coupon_id, action).status_code == 404
    assert portal.get(f"/coupons/{2 ** 70}").status_code == 404
    account = coupons.find_account_coupon(session, neighbour.id, ten_off.id)
    session.refresh(account)
    assert account.activated is False
    assert theirs.code not in portal.get("/coupons").get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(uses).where(uses.member_id == logged_in.id)) == 0


EVERY_CONDITION = {"minTotal": 20, "includedCategories": ["coffee", "tea"], "excludedProducts": ["TOBACCO"],
                   "locationCodes": ["BER-01"], "daysOfWeek": ["monday", "friday"], "fromTime": "08:00",
                   "toTime": "11:00", "firstPurchaseOnly": True, "combinable": False}


def test_the_coupon_pages_say_every_condition_in_plain_words(portal, logged_in, session, org):
    offer = make_book(session, org, name="Morning deal", type=coupons.DISCOUNT, discount_type="fixed",
                      discount_amount=5, condition=EVERY_CONDITION)
    expected = ["With a purchase of €20.00 or more of eligible products", "When you buy from: coffee, tea",
                "Not valid on these products: TOBACCO", "Only in these stores: BER-01", "Only on Monday, Friday",
                "Only from 08:00 to 11:00", "Only on your first purchase", "Cannot be combined with other coupons"]
    assert portal.page("/coupons").texts(f'li.coupon[data-book="{offer.id}"] [data-testid=conditions] li') == expected
    claim(portal, offer)
    [mine] = held(session, logged_in)
    held_card = f'li.coupon:not(.coupon--offer)[data-book="{offer.id}"] [data-testid=conditions] li'
    assert portal.page("/coupons").texts(held_card) == expected
    assert portal.page(f"/coupons/{mine.assignment.id}").texts(".ticket [data-testid=conditions] li") == expected
    plain = make_book(session, org, name="No strings")
    assert not portal.page("/coupons").has(f'li.coupon[data-book="{plain.id}"] [data-testid=conditions]')

    logged_in.locale = "de"
    session.commit()
    german = portal.page(f"/coupons/{mine.assignment.id}").texts(".ticket [data-testid=conditions] li")
    assert german[0].startswith("Bei einem Einkauf ab 20,00") and "Nur am Montag, Freitag" in german
    assert "Nicht mit anderen Coupons kombinierbar" in german


def test_a_book_for_an_audience_the_member_is_not_in_cannot_be_claimed(portal, logged_in, session, org):
    from portal.domain import audiences

    audiences.create_audience(session, org.id, name="vip", actor=org.actor, kind=audiences.LIST)
    book = make_book(session, org, name="VIP lounge", audience_keys=["vip"])
    assert "This coupon is for another group of members." in card_text(portal.page("/coupons"), book)
    claim(portal, book, key="audience-claim-0123456789")
    assert flashes(portal.page("/coupons")) == ["This coupon is for another group of members."]
    assert held(session, logged_in) == []
