"""Coupon books in the console: list and filter with usage counts, create and edit with domain errors
on their fields, publish/disable/archive, generated codes, CSV uploads with a per-row report, roles,
CSRF and isolation."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from portal.domain import coupons
from portal.domain.audit import AuditEntry
from portal.domain.coupons import CouponBook, CouponCode, Place
from portal.domain.idempotency import IdempotencyKey
from tests import factories
from tests.web.page import page


def book_data(**extra) -> dict:
    data = {"name": "Summer 10 %", "type": "DISCOUNT", "discount_type": "percentage", "discount_amount": "10",
            "valid_from": "2030-06-01T00:00", "valid_to": "2030-08-31T23:59", "max_assigned_per_member": "2",
            "max_assigned_per_coupon": "1", "max_coupon_count": "500", "assignment_required_points": "0",
            "usage_required_points": "0", "activatable": "y", "tags": "summer, drinks",
            "external_reference": "POS-SUMMER-10", "text_en_title": "10 % off all drinks",
            "text_en_subtitle": "All summer", "text_de_title": "10 % auf alle Getränke",
            "text_de_booking_text": "Sommer-Rabatt", "picture_url": "https://cdn.example.com/summer.png"}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def create(console, **extra):
    return console.post("/console/coupons/new", book_data(**extra))


def only_book(session, org) -> CouponBook:
    return session.scalars(select(CouponBook).where(CouponBook.organization_id == org.id)).one()


def make_book(session, org, **fields) -> CouponBook:
    fields.setdefault("name", "Free coffee")
    fields.setdefault("type", "REWARD")
    fields.setdefault("usage_required_points", 100)
    book = coupons.create_book(session, org.id, actor=org.actor, **fields)
    session.commit()
    return book


def csv_file(text: str, name: str = "codes.csv"):
    return (io.BytesIO(text.encode("utf-8")), name)


def upload(console, book, text: str, button: str = "upload-import_codes", name: str = "codes.csv", **kwargs):
    return console.post(f"/console/coupons/{book.id}/codes/upload",
                        {"upload-file": csv_file(text, name), button: "y"},
                        content_type="multipart/form-data", **kwargs)


# --- create, edit, list ---------------------------------------------------------------------

def test_create_book_with_every_field_and_texts_in_both_locales(console, signed_in, session, org):
    tier_ids = [t.id for t in factories.make_tiers(session, org)]
    session.commit()
    response = create(console, tiers=[str(tier_ids[2])])
    assert response.status_code == 302, response.get_data(as_text=True)
    book = only_book(session, org)
    assert response.headers["Location"].endswith(f"/console/coupons/{book.id}")
    assert (book.type, book.discount_type, str(book.discount_amount)) == ("DISCOUNT", "percentage", "10.00")
    assert book.publishing_status == "draft"
    assert book.valid_from.isoformat() == "2030-06-01T00:00:00+00:00"
    assert (book.max_assigned_per_member, book.max_assigned_per_coupon, book.max_coupon_count) == (2, 1, 500)
    assert book.activatable is True and book.tags == ["summer", "drinks"] and book.tiers == [str(tier_ids[2])]
    assert book.external_reference == "POS-SUMMER-10" and book.picture_url == "https://cdn.example.com/summer.png"
    assert book.i18n == {"en": {"title": "10 % off all drinks", "subtitle": "All summer"},
                         "de": {"title": "10 % auf alle Getränke", "bookingText": "Sommer-Rabatt"}}
    detail = page(console.get(f"/console/coupons/{book.id}"))
    assert detail.text("h1") == "Summer 10 %"
    assert "Draft" in detail.text("#book-status")
    assert "10 % auf alle Getränke" in detail.text("[lang=de]") and "Gold" in detail.html


def test_create_form_offers_the_organisations_locales_and_tiers(console, signed_in, session, org):
    factories.make_tiers(session, org)
    session.commit()
    form = page(console.get("/console/coupons/new"))
    for name in ("text_en_title", "text_en_description", "text_de_title", "text_de_booking_text"):
        assert form.has(f"[name={name}]"), name
    assert [e.get("value") for e in form.all("input[name=type]")] == [] and len(form.all("select[name=type] option")) == 4
    assert len(form.all("input[name=tiers]")) == 3


def test_domain_errors_land_on_their_fields(console, signed_in, session, org):
    no_type = page(create(console, discount_type=""))
    assert "discountType" in no_type.text("#discount_type-error")
    too_much = create(console, discount_amount="150")
    assert too_much.status_code == 422
    assert "at most 100" in page(too_much).text("#discount_amount-error")
    backwards = page(create(console, valid_from="2030-09-01T00:00", valid_to="2030-08-01T00:00"))
    assert "after validFromDate" in backwards.text("#valid_to-error")
    multiplier = page(create(console, type="MULTIPLIER", discount_type="", discount_amount="1"))
    assert "factor above 1" in multiplier.text("#discount_amount-error")
    shape = create(console, name="", max_coupon_count="0", picture_url="javascript:alert(1)")
    errors = page(shape)
    assert shape.status_code == 422
    assert "required" in errors.text("#name-error")
    assert errors.has("#max_coupon_count-error") and "http" in errors.text("#picture_url-error")
    # The form keeps what was typed.
    assert errors.one("#external_reference").get("value") == "POS-SUMMER-10"
    assert session.scalar(select(func.count()).select_from(CouponBook).where(CouponBook.organization_id == org.id)) == 0


def test_a_foreign_tier_is_refused_on_the_tiers_field(console, signed_in, session, org, other_org):
    foreign = factories.make_tiers(session, other_org)[0]
    session.commit()
    response = create(console, tiers=[str(foreign.id)])
    assert response.status_code == 422
    assert "No such tier" in page(response).text("#tiers-error")


def test_the_same_form_sent_twice_creates_one_book(console, signed_in, session, org):
    data = book_data(key="fixed-key-1")
    first = console.post("/console/coupons/new", data)
    second = console.post("/console/coupons/new", data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert session.scalar(select(func.count()).select_from(CouponBook).where(CouponBook.organization_id == org.id)) == 1


def test_edit_changes_fields_but_never_the_type(console, signed_in, session, org):
    book = make_book(session, org, i18n={"en": {"title": "A coffee"}})
    form = page(console.get(f"/console/coupons/{book.id}/edit"))
    assert form.one("#name").get("value") == "Free coffee"
    assert form.one("#text_en_title").get("value") == "A coffee"
    assert not form.has("select[name=type]")
    response = console.post(f"/console/coupons/{book.id}/edit", {
        "name": "Free latte", "type": "DISCOUNT", "usage_required_points": "150", "max_assigned_per_coupon": "1",
        "text_en_title": "A latte", "text_de_title": "Ein Latte"})
    assert response.status_code == 302
    session.refresh(book)
    assert (book.name, book.type, book.usage_required_points) == ("Free latte", "REWARD", 150)
    assert book.i18n == {"en": {"title": "A latte"}, "de": {"title": "Ein Latte"}}
    bad = console.post(f"/console/coupons/{book.id}/edit", {"name": "X", "valid_from": "2030-02-01T00:00",
                                                            "valid_to": "2030-01-01T00:00"})
    assert bad.status_code == 422 and "after validFromDate" in page(bad).text("#valid_to-error")


def test_list_filters_by_status_and_shows_counts_that_match_the_data(console, signed_in, session, org):
    reward = make_book(session, org, name="Coffee reward", publishing_status="published")
    coded = make_book(session, org, name="Coded discount", type="DISCOUNT", discount_type="fixed",
                      discount_amount=5, publishing_status="published", usage_required_points=0)
    make_book(session, org, name="Old draft")
    coupons.generate_codes(session, coded, 10, actor=org.actor)
    buyer, other = factories.make_member(session, org), factories.make_member(session, org)
    factories.give_points(session, org, buyer, 500)
    coupons.use_coupon(session, buyer, reward, actor=org.actor)
    coupons.assign_coupons(session, buyer, coded, actor=org.actor, number_of_codes=2)
    coupons.assign_coupons(session, other, coded, actor=org.actor)
    coupons.use_coupon(session, other, coded, actor=org.actor)
    session.commit()

    listing = page(console.get("/console/coupons"))
    assert len(listing.all("#books-table tbody tr")) == 3
    cells = {td.get("data-count"): " ".join(td.itertext()).split()[0]
             for td in listing.all(f"tr[data-book-id='{coded.id}'] td[data-count]")}
    counts = coupons.book_counts(session, coded)
    assert counts == {"assigned": 3, "used": 1, "codes": 10, "freeCodes": 7, "remaining": None}
    assert cells == {"assigned": "3", "used": "1", "free": "7"}
    reward_row = listing.text(f"tr[data-book-id='{reward.id}']")
    assert "100 points" in reward_row and "no codes" in reward_row

    drafts = console.get("/console/coupons?status=draft")
    assert [e.text for e in page(drafts).all("#books-table tbody td a")] == ["Old draft"]
    fragment = console.get("/console/coupons?status=published", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and "Coffee reward" in html and "Old draft" not in html
    assert "HX-Request" in fragment.headers["Vary"]
    assert "Old draft" in console.get("/console/coupons?status=bogus").get_data(as_text=True)


def test_book_page_counts_codes_and_recent_usages(console, signed_in, session, org):
    book = make_book(session, org, name="Coded", type="DISCOUNT", discount_type="percentage", discount_amount=15,
                     publishing_status="published", usage_required_points=0)
    codes = coupons.generate_codes(session, book, 30, actor=org.actor, prefix="TEST")
    member = factories.make_member(session, org, givenName="Uma", familyName="Usage")
    result = coupons.use_coupon(session, member, book, actor=org.actor,
                                place=Place(location_code="BER-01", interaction_point="till-3"))
    session.commit()
    used_code = session.get(CouponCode, result.usages[0].code_id).code
    detail = page(console.get(f"/console/coupons/{book.id}"))
    assert detail.text("#count-assigned") == "1" and detail.text("#count-used") == "1"
    assert detail.text("#count-codes") == "30" and detail.text("#count-free") == "29"
    assert len(detail.all("#codes-table tbody tr")) == 25  # first page
    assert "Page 1 of 2" in detail.text(".pager")
    usage_rows = detail.texts("#usages-table tbody tr")
    assert len(usage_rows) == 2  # the assignment and the use
    assert all("Uma Usage" in row for row in usage_rows)
    assert any("BER-01 · till-3" in row and "Used" in row for row in usage_rows)
    shown_code = detail.all("#usages-table tbody code")[0].text
    assert shown_code in codes and shown_code == used_code

    second = console.get(f"/console/coupons/{book.id}?page=2", headers={"HX-Request": "true"})
    fragment = page(second)
    assert "<html" not in second.get_data(as_text=True) and len(fragment.all("#codes-table tbody tr")) == 5
    assert "HX-Request" in second.headers["Vary"]
    used_only = page(console.get(f"/console/coupons/{book.id}?codes=used"))
    assert [c.text for c in used_only.all("#codes-table tbody code")] == [shown_code]


# --- publishing status ----------------------------------------------------------------------

def test_publish_disable_and_archive(console, signed_in, session, org):
    book = make_book(session, org)
    detail = page(console.get(f"/console/coupons/{book.id}"))
    assert [b.text for b in detail.all(".page-head form button")] == ["Publish", "Archive"]
    for status, label in (("published", "published"), ("disabled", "disabled"), ("archived", "archived")):
        response = console.post(f"/console/coupons/{book.id}/status", {"status": status})
        assert response.status_code == 302
        session.refresh(book)
        assert book.publishing_status == status
        assert f"is now {label}" in console.get(f"/console/coupons/{book.id}").get_data(as_text=True)
    archived = page(console.get(f"/console/coupons/{book.id}"))
    assert not archived.has(".page-head form") and not archived.has("#upload-card")
    refused = console.post(f"/console/coupons/{book.id}/status", {"status": "published"})
    assert refused.status_code == 422 and "archived coupon book cannot be changed" in page(refused).text("#status-error")
    session.refresh(book)
    assert book.publishing_status == "archived"
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.organization_id == org.id,
                                                              AuditEntry.action == "coupon_book.updated"))
    assert len(list(actions)) == 3
    assert console.post(f"/console/coupons/{book.id}/status", {"status": "deleted"}).status_code == 400


# --- codes ------------------------------------------------------------------------------------

def test_generate_creates_exactly_n_distinct_codes(console, signed_in, session, org):
    book = make_book(session, org)
    response = console.post(f"/console/coupons/{book.id}/codes/generate",
                            {"generate-count": "250", "generate-prefix": "xmas-", "generate-key": "gen-1"})
    assert response.status_code == 302
    codes = list(session.scalars(select(CouponCode.code).where(CouponCode.book_id == book.id)))
    assert len(codes) == len(set(codes)) == 250
    assert all(re.fullmatch(r"XMAS-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}", c) for c in codes)
    session.refresh(book)
    assert book.code_count == 250
    assert "250 codes generated" in console.get(f"/console/coupons/{book.id}").get_data(as_text=True)
    # The same form sent again (a double click) adds nothing.
    again = console.post(f"/console/coupons/{book.id}/codes/generate",
                         {"generate-count": "250", "generate-prefix": "xmas-", "generate-key": "gen-1"})
    assert again.status_code == 302
    assert "These codes were already generated; no more were added." in console.get(
        f"/console/coupons/{book.id}").get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(CouponCode).where(CouponCode.book_id == book.id)) == 250
    assert session.scalar(select(func.count()).select_from(IdempotencyKey).where(
        IdempotencyKey.organization_id == org.id)) == 1


def test_generate_errors_on_their_fields(console, signed_in, session, org):
    book = make_book(session, org)
    url = f"/console/coupons/{book.id}/codes/generate"
    too_many = page(console.post(url, {"generate-count": "20001"}))
    assert "between 1 and 20000" in too_many.text("#generate-count-error")
    short = console.post(url, {"generate-count": "10", "generate-length": "4"})
    assert short.status_code == 422 and "cannot be guessed" in page(short).text("#generate-length-error")
    prefix = page(console.post(url, {"generate-count": "10", "generate-prefix": "no spaces"}))
    assert "prefix" in prefix.text("#generate-prefix-error")
    missing = page(console.post(url, {"generate-count": ""}))
    assert "whole number" in missing.text("#generate-count-error")
    assert session.scalar(select(func.count()).select_from(CouponCode).where(CouponCode.book_id == book.id)) == 0


def test_csv_upload_imports_valid_rows_and_reports_bad_ones_by_line(console, signed_in, session, org):
    book = make_book(session, org)
    coupons.import_codes(session, book, ["TAKEN-1"], actor=org.actor)
    session.commit()
    text = ("code,comment\n"        # line 1: header
            "GOOD-1,first\n"        # line 2
            "bad code!,space\n"     # line 3: invalid characters
            "GOOD-2,\n"             # line 4
            "GOOD-1,again\n"        # line 5: duplicate of line 2
            "\n"                    # line 6: blank, skipped
            f"{'A' * 101},long\n"   # line 7: too long
            "TAKEN-1,\n"            # line 8: already in the book
            ",empty\n")             # line 9: empty code
    response = upload(console, book, text)
    assert response.status_code == 200
    report = page(response)
    assert report.text("#report-added").startswith("2 imported") and report.text("#report-refused") == "5 refused"
    rows = [r.split(" ", 2) for r in report.texts("#report-table tbody tr")]
    # Line in the file, and row among the codes (the numbering the domain's messages use).
    assert [(line, row) for line, row, _ in rows] == [("3", "2"), ("5", "4"), ("7", "5"), ("8", "6"), ("9", "7")]
    assert "GOOD-1 duplicate of row 1" in rows[1][2]
    assert "already in this coupon book" in rows[3][2] and "empty code" in rows[4][2]
    assert "letters, digits" in rows[0][2] and "letters, digits" in rows[2][2]
    assert sorted(session.scalars(select(CouponCode.code).where(CouponCode.book_id == book.id))) == \
        ["GOOD-1", "GOOD-2", "TAKEN-1"]
    assert report.text("#count-codes") == "3"  # the counts on the same page are fresh
    assert "Valid rows are imported" in report.text("#upload-card")


def test_a_large_upload_reports_a_summary_and_the_first_refused_rows(console, signed_in, session, org):
    book = make_book(session, org)
    good = [f"BULK-{i:05d}" for i in range(5000)]
    bad = [f"bad {i}" for i in range(250)]
    response = upload(console, book, "\n".join(good + bad) + "\n")
    report = page(response)
    assert report.text("#report-added").startswith("5,000 imported") and report.text("#report-refused") == "250 refused"
    assert len(report.all("#report-table tbody tr")) == 200
    assert "and 50 more refused rows" in report.text("#upload-report")
    assert report.texts("#report-table tbody tr")[0].startswith("5001 5001 bad 0")
    assert session.scalar(select(func.count()).select_from(CouponCode).where(CouponCode.book_id == book.id)) == 5000
    audit = session.scalars(select(AuditEntry).where(AuditEntry.organization_id == org.id,
                                                     AuditEntry.action == "coupon_book.codes_imported")).one()
    assert (audit.details["added"], audit.details["rejected"]) == (5000, 250)


def test_check_only_writes_nothing_and_plain_lists_need_no_header(console, signed_in, session, org):
    book = make_book(session, org)
    response = upload(console, book, "ONE\nTWO\nTWO\n", button="upload-check_only")
    report = page(response)
    assert response.status_code == 200 and report.text("#report-added").startswith("2 would be imported")
    assert report.texts("#report-table tbody tr") == ["3 3 TWO duplicate of row 2"]
    assert session.scalar(select(func.count()).select_from(CouponCode).where(CouponCode.book_id == book.id)) == 0
    # Semicolon-separated with a header in another column, as spreadsheets in Germany save them.
    upload(console, book, "Nummer;Code\n1;ALPHA\n2;BETA\n")
    assert sorted(session.scalars(select(CouponCode.code).where(CouponCode.book_id == book.id))) == ["ALPHA", "BETA"]


def test_upload_file_problems_are_errors_on_the_file_field(console, signed_in, session, org):
    book = make_book(session, org)
    url = f"/console/coupons/{book.id}/codes/upload"
    missing = console.post(url, {"upload-import_codes": "y"}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "Choose a CSV file" in page(missing).text("#upload-file-error")
    binary = console.post(url, {"upload-file": (io.BytesIO(b"\xff\xfe\x00\x00bin"), "x.csv"),
                                "upload-import_codes": "y"}, content_type="multipart/form-data")
    assert binary.status_code == 422 and "UTF-8" in page(binary).text("#upload-file-error")
    big = console.post(url, {"upload-file": (io.BytesIO(b"A" * (901 * 1024)), "big.csv"),
                             "upload-import_codes": "y"}, content_type="multipart/form-data")
    assert big.status_code == 422 and "larger than 900 KB" in page(big).text("#upload-file-error")
    empty = upload(console, book, "code\n\n")
    assert empty.status_code == 422 and "no codes" in page(empty).text("#upload-file-error")
    assert session.scalar(select(func.count()).select_from(CouponCode).where(CouponCode.book_id == book.id)) == 0


def test_htmx_upload_gets_the_page_with_the_upload_card_counts_and_codes(console, signed_in, session, org):
    book = make_book(session, org)
    response = upload(console, book, "code\nH-1\nH-2\n", headers={"HX-Request": "true"})
    report = page(response)
    assert report.has("#upload-card #upload-report") and report.text("#count-codes") == "2"
    assert [c.text for c in report.all("#code-rows code")] == ["H-1", "H-2"]
    detail = page(console.get(f"/console/coupons/{book.id}"))
    form = detail.one("#upload-form")
    assert form.get("hx-select") == "#upload-card" and "#book-counts" in form.get("hx-select-oob")


# --- roles, CSRF, isolation -------------------------------------------------------------------------

def test_roles_csrf_and_other_organisations(console, sign_in_as, session, org, other_org):
    mine = make_book(session, org)
    foreign = make_book(session, other_org, name="Foreign book")
    sign_in_as(["coupons:read"])
    assert console.get("/console/coupons").status_code == 200
    detail = page(console.get(f"/console/coupons/{mine.id}"))
    assert not detail.has("#upload-card") and not detail.has(".page-head form")
    assert "New coupon book" not in detail.html
    assert console.get("/console/coupons/new").status_code == 403
    assert console.post(f"/console/coupons/{mine.id}/status", {"status": "published"}).status_code == 403
    assert console.post(f"/console/coupons/{mine.id}/codes/generate", {"generate-count": "5"}).status_code == 403
    assert upload(console, mine, "X1\n").status_code == 403
    assert console.get(f"/console/coupons/{foreign.id}").status_code == 404
    assert console.get("/console/coupons/99999999999999999999999").status_code == 404
    assert "Foreign book" not in console.get("/console/coupons").get_data(as_text=True)
    sign_in_as(["members:read"])
    assert console.get("/console/coupons").status_code == 403
    assert "Coupons" not in page(console.get("/console/")).text("nav.sidenav")
    sign_in_as(["coupons:read", "coupons:write"])
    assert console.post(f"/console/coupons/{foreign.id}/status", {"status": "archived"}).status_code == 404
    assert console.post(f"/console/coupons/{foreign.id}/codes/generate", {"generate-count": "5"}).status_code == 404
    assert console.get(f"/console/coupons/{foreign.id}/edit").status_code == 404
    # Without a CSRF token nothing changes.
    no_token = console.client.post(f"/console/coupons/{mine.id}/status", data={"status": "published"})
    assert no_token.status_code == 400
    no_token = console.client.post(f"/console/coupons/{mine.id}/codes/generate", data={"generate-count": "5"})
    assert no_token.status_code == 400
    no_token = console.client.post("/console/coupons/new", data=book_data())
    assert no_token.status_code == 400
    session.refresh(mine)
    session.refresh(foreign)
    assert mine.publishing_status == foreign.publishing_status == "draft"
    assert mine.code_count == foreign.code_count == 0
    assert session.scalar(select(func.count()).select_from(CouponBook).where(CouponBook.organization_id == org.id)) == 1
    assert "Coupons" in page(console.get("/console/")).text("nav.sidenav")


def test_the_book_form_sets_audiences_and_every_condition(console, signed_in, session, org):
    from portal.domain import audiences

    audiences.create_audience(session, org.id, name="vip", actor=org.actor, kind=audiences.LIST)
    audiences.create_audience(session, org.id, name="students", actor=org.actor, kind=audiences.LIST)
    session.commit()
    form = page(console.get("/console/coupons/new"))
    assert [e.get("value") for e in form.all("input[name=audience_keys]")] == ["students", "vip"]
    assert len(form.all("input[name=days_of_week]")) == 7
    conditions = {"min_total": "20", "included_products": "BEANS, GRINDER", "included_categories": "coffee",
                  "excluded_products": "TOBACCO", "excluded_categories": "kiosk", "location_codes": "BER-01, HAM-02",
                  "days_of_week": ["monday", "friday"], "from_time": "08:00", "to_time": "11:00",
                  "first_purchase_only": "y", "not_combinable": "y"}
    response = create(console, audience_keys=["vip"], **conditions)
    assert response.status_code == 302, response.get_data(as_text=True)
    book = only_book(session, org)
    assert book.audience_keys == ["vip"]
    assert book.condition == {"minTotal": "20", "includedProducts": ["BEANS", "GRINDER"],
                              "excludedProducts": ["TOBACCO"], "includedCategories": ["coffee"],
                              "excludedCategories": ["kiosk"], "locationCodes": ["BER-01", "HAM-02"],
                              "daysOfWeek": ["monday", "friday"], "fromTime": "08:00", "toTime": "11:00",
                              "firstPurchaseOnly": True, "combinable": False}
    edit = page(console.get(f"/console/coupons/{book.id}/edit"))
    assert edit.one("#min_total").get("value") == "20.00"
    assert edit.one("#location_codes").get("value") == "BER-01, HAM-02"
    assert [e.get("value") for e in edit.all("input[name=days_of_week][checked]")] == ["monday", "friday"]
    assert edit.has("#not_combinable[checked]") and edit.has("input[name=audience_keys][value=vip][checked]")


def test_a_wrong_condition_lands_on_its_field(console, signed_in, session, org):
    response = create(console, from_time="25:00", to_time="11:00")
    assert response.status_code == 422
    assert "HH:MM" in page(response).text("#from_time-error")
    half = create(console, from_time="08:00")
    assert "both" in page(half).text("#to_time-error")
    assert session.scalar(select(func.count()).select_from(CouponBook).where(CouponBook.organization_id == org.id)) == 0
