"""Coupon books in the console: the list with usage counts, create and edit, publish, disable
and archive, a book's page with its codes and recent usages, generating codes and uploading a CSV.

Every rule (what a valid book or code is, which status changes are allowed, which CSV rows are
refused) is `portal.domain.coupons`'s; these views parse, call it, commit once and show its answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..auth import staff_required
from ..domain import coupons, idempotency, tiers
from ..domain.coupons import PUBLISHING_STATUSES, CouponBook, CouponCode, CouponUsage
from ..domain.errors import DomainError
from ..domain.organizations import default_program, get_organization
from ..extensions import db
from ..forms import form_status, submit, submit_then, try_out
from ..fragments import render_page_or_fragment
from . import bp, navigation, queries
from .coupon_forms import (STATUS_LABELS, TYPE_LABELS, BookFilterForm, CodeFilterForm, CouponBookForm,
                           GenerateCodesForm, PublishingStatusForm, UploadCodesForm)
from .rendering import newest_first, page_of
from .resources import Resource
from .uploads import UploadUnreadable, read_column

navigation.register("Coupons", "console.coupon_list", "coupons:read", "console.coupon_")

BOOKS = Resource("coupons", "coupon", coupons.get_book, id_arg="book_id", known_as="book", label="Coupon books",
                 write_role="coupons:write")
BOOKS_PER_PAGE = 20
CODES_PER_PAGE = 25
RECENT_USAGES = 20
# A report longer than this shows its first rows and says how many more there are.
REPORT_ROWS_SHOWN = 200
CODE_HEADERS = ("code", "codes", "coupon", "couponcode", "coupon_code")
CODE_STATUSES = ("free", "assigned", "used")


@dataclass
class ReportRow:
    line: int      # in the file, as a spreadsheet numbers it
    row: int       # among the codes, from 1: the numbering of the domain's messages ("duplicate of row 2")
    code: str
    message: str


@dataclass
class UploadReport:
    """What a CSV upload did (or, checked only, would do)."""
    filename: str
    imported: bool
    rows: int
    added: int
    errors: list[ReportRow] = field(default_factory=list)

    @property
    def shown_errors(self) -> list[ReportRow]:
        return self.errors[:REPORT_ROWS_SHOWN]


# --- list, create, edit -----------------------------------------------------------------

@bp.get("/coupons")
@staff_required("coupons:read")
def coupon_list():
    session = db.session
    form = BookFilterForm(formdata=request.args)
    shown = form.status.data if form.status.data in PUBLISHING_STATUSES else ""
    stmt = coupons.books_query(current_user.organization_id, status=shown or None)
    result = page_of(stmt, BOOKS_PER_PAGE, *newest_first(CouponBook))
    counts = {book.id: coupons.book_counts(session, book) for book in result.items}
    return render_page_or_fragment("console/coupons/list.html", "console/coupons/_rows.html", form=form,
                                   shown_status=shown, result=result, counts=counts, **_labels())


@bp.route("/coupons/new", methods=["GET", "POST"])
@staff_required("coupons:write")
def coupon_new():
    session = db.session
    organization_id = current_user.organization_id
    form = _book_form(default_program(session, organization_id).id)
    if form.validate_on_submit():
        actor = current_user.actor()

        def create() -> dict:
            book = coupons.create_book(session, organization_id, actor=actor, type=form.type.data, **form.fields())
            return {"bookId": book.id}

        # A double click or a reloaded POST finds the book made the first time.
        done, outcome = submit(form, lambda: idempotency.run_once(
            session, organization_id, f"console-coupon-book-{form.key.data}", "console.coupon_book.create",
            {"name": form.name.data.strip(), "type": form.type.data}, create), form.place_error)
        if done:
            flash("This form was already sent: here is the book it created." if outcome.replayed
                  else "Coupon book created as a draft: add codes if it needs them, then publish it.", "success")
            return redirect(url_for("console.coupon_detail", book_id=outcome.result["bookId"]))
    return render_template("console/coupons/new.html", form=form, **BOOKS.layout(), **_labels()), form_status()


@bp.route("/coupons/<int:book_id>/edit", methods=["GET", "POST"])
@staff_required("coupons:write")
def coupon_edit(book_id: int):
    book = BOOKS.find(book_id)
    form = _book_form(book.loyalty_program_id)
    del form.type  # a book's type never changes
    return BOOKS.edit_page(form, book, coupons.update_book, fields=form.place_error,
                           saved=lambda: "Coupon book saved.", **_labels())


@bp.post("/coupons/<int:book_id>/status")
@staff_required("coupons:write")
def coupon_status(book_id: int):
    session = db.session
    book = BOOKS.find(book_id)
    form = PublishingStatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with db.transaction():
            coupons.set_publishing_status(session, book, form.status.data, actor=current_user.actor())
    except DomainError as error:
        return _detail_page(book, status_error=error.message, status=422)
    flash(f"{book.name} is now {STATUS_LABELS[book.publishing_status].lower()}.", "success")
    return redirect(BOOKS.url(book))


# --- a book's page: counts, codes, usages -------------------------------------------------

@bp.get("/coupons/<int:book_id>")
@staff_required("coupons:read")
def coupon_detail(book_id: int):
    book = BOOKS.find(book_id)
    return render_page_or_fragment("console/coupons/detail.html", "console/coupons/_codes.html",
                                   **_detail_context(book))


@bp.post("/coupons/<int:book_id>/codes/generate")
@staff_required("coupons:write")
def coupon_generate(book_id: int):
    session = db.session
    book = BOOKS.find(book_id)
    form = GenerateCodesForm(prefix="generate")

    def generate_once():
        """The codes, once per form key: a second send of the same form adds none."""
        prefix = (form.prefix.data or "").strip()
        return idempotency.run_once(
            session, current_user.organization_id, f"console-generate-codes-{form.key.data}",
            "console.coupon_codes.generate",
            {"bookId": book.id, "count": form.count.data, "prefix": prefix, "length": form.length.data},
            lambda: {"count": len(coupons.generate_codes(session, book, form.count.data, actor=current_user.actor(),
                                                         prefix=prefix, length=form.length.data))})

    generated = submit_then(form, generate_once, form.DOMAIN_FIELDS,
                            told=lambda outcome: ("These codes were already generated; no more were added.", "info")
                            if outcome.replayed else f"{outcome.result['count']:,} codes generated.",
                            then=BOOKS.url(book))
    return generated or _detail_page(book, generate_form=form, status=422)


@bp.post("/coupons/<int:book_id>/codes/upload")
@staff_required("coupons:write")
def coupon_upload(book_id: int):
    """Check or import a CSV of codes. The import keeps the valid rows and reports the others
    (import_codes with skip_invalid); "Check only" reports without writing anything."""
    session = db.session
    book = BOOKS.find(book_id)
    form = UploadCodesForm(prefix="upload")
    report = None
    if form.validate_on_submit():
        upload = form.file.data
        check_only = bool(form.check_only.data)
        try:
            column = read_column(upload, CODE_HEADERS)
            if not column.values:
                raise UploadUnreadable("The file holds no codes.")
        except UploadUnreadable as problem:
            form.file.errors = [*form.file.errors, str(problem)]
        else:
            if check_only:
                done, result = try_out(form, lambda: coupons.check_codes(session, book, column.values),
                                       form.DOMAIN_FIELDS)
            else:
                done, result = submit(form, lambda: coupons.import_codes(
                    session, book, column.values, actor=current_user.actor(), skip_invalid=True), form.DOMAIN_FIELDS)
            if done:
                report = UploadReport(
                    filename=upload.filename or "upload.csv", imported=not check_only, rows=len(column.values),
                    added=len(result.added),
                    errors=[ReportRow(column.line_of(e.index), e.index + 1, e.code, e.message)
                            for e in result.errors])
    # The whole page, also for htmx: the upload form selects its own card and the counts from it.
    context = _detail_context(book, upload_form=form if report is None else None, upload_report=report)
    return render_template("console/coupons/detail.html", **context), 200 if report else 422


# --- helpers --------------------------------------------------------------------------------

def _book_form(program_id: int) -> CouponBookForm:
    session = db.session
    organization = get_organization(session, current_user.organization_id)
    return CouponBookForm.for_organization(organization.locales or [organization.default_locale],
                                           tiers.tiers_of(session, program_id),
                                           session.scalars(queries.audiences(current_user.organization_id)))


def _labels() -> dict:
    return {"type_labels": TYPE_LABELS, "status_labels": STATUS_LABELS, "value_of": coupons.coupon_value}


def _detail_context(book: CouponBook, **extra) -> dict:
    session = db.session
    organization_id = current_user.organization_id
    code_filter = CodeFilterForm(formdata=request.args)
    code_status = code_filter.codes.data if code_filter.codes.data in CODE_STATUSES else ""
    codes = page_of(coupons.codes_query(book, status=code_status or None), CODES_PER_PAGE, CouponCode.id)
    usages = list(session.scalars(coupons.usages_query(organization_id, book_id=book.id)
                                  .order_by(CouponUsage.created_at.desc(), CouponUsage.id.desc())
                                  .limit(RECENT_USAGES)))
    member_ids = sorted({u.member_id for u in usages})
    code_ids = sorted({u.code_id for u in usages if u.code_id})
    tier_names = {str(t.id): t.name for t in tiers.tiers_of(session, book.loyalty_program_id)}
    return {
        **BOOKS.layout(book),
        "book": book, "counts": coupons.book_counts(session, book), "texts": book.i18n or {},
        "tier_names": tier_names,
        "codes": codes, "code_filter": code_filter, "code_status": code_status,
        "code_params": {"book_id": book.id, **({"codes": code_status} if code_status else {})},
        "code_status_of": lambda code: coupons.code_status(book, code),
        "usages": usages,
        "members_by_id": queries.members_by_id(session, organization_id, member_ids),
        "card_codes": queries.card_codes(session, member_ids),
        "usage_codes": dict(session.execute(select(CouponCode.id, CouponCode.code).where(
            CouponCode.book_id == book.id, CouponCode.id.in_(code_ids))).all()) if code_ids else {},
        "generate_form": extra.pop("generate_form", None) or GenerateCodesForm(prefix="generate", formdata=None),
        "upload_form": extra.pop("upload_form", None) or UploadCodesForm(prefix="upload", formdata=None),
        "upload_report": extra.pop("upload_report", None),
        "status_error": extra.pop("status_error", None),
        "status_form": PublishingStatusForm(formdata=None),
        **_labels(), **extra,
    }


def _detail_page(book: CouponBook, status: int = 200, **extra):
    return render_template("console/coupons/detail.html", **_detail_context(book, **extra)), status
