"""Signup forms in the console: the list, create and edit (switching on or off included), and a form's
page with the tag partners paste, the origins allowed to show it and who joined through it."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from ..auth import staff_required
from ..domain import coupons, signup_forms
from ..domain.coupons import CouponBook
from ..domain.signup_forms import SignupForm
from ..embed import shared
from ..extensions import db
from . import bp, navigation, queries
from ..fragments import render_page_or_fragment
from .rendering import newest_first, page_of
from .resources import Resource
from .signup_form_forms import FORM_FIELDS, PURPOSE_LABELS, SignupFormForm

navigation.register("Signup forms", "console.signup_form_list", "forms:read", "console.signup_form_")

FORMS_PER_PAGE = 20
SIGNUP_FORMS = Resource("signup_forms", "signup_form", signup_forms.get_form, fields=FORM_FIELDS, id_arg="form_id",
                        label="Signup forms", write_role="forms:write")


@bp.get("/signup-forms")
@staff_required("forms:read")
def signup_form_list():
    result = page_of(signup_forms.forms_query(current_user.organization_id), FORMS_PER_PAGE,
                     *newest_first(SignupForm))
    return render_page_or_fragment("console/signup_forms/list.html", "console/signup_forms/_rows.html",
                                   result=result, purposes=PURPOSE_LABELS,
                                   counts=signup_forms.entry_counts(db.session, [f.id for f in result.items]))


@bp.route("/signup-forms/new", methods=["GET", "POST"])
@staff_required("forms:write")
def signup_form_new():
    form = SignupFormForm().with_books(_books())
    return SIGNUP_FORMS.new_page(form, signup_forms.create_form, told=lambda found: (
        f"Signup form {found.name} created. Paste the tag below into a partner page."))


@bp.get("/signup-forms/<int:form_id>")
@staff_required("forms:read")
def signup_form_detail(form_id: int):
    found = SIGNUP_FORMS.find(form_id)
    entries = signup_forms.recent_entries(db.session, found)
    joined = queries.members_by_id(db.session, found.organization_id, [e.member_id for e in entries])
    book = coupons.get_book(db.session, found.organization_id, found.coupon_book_id) if found.coupon_book_id else None
    return render_template("console/signup_forms/detail.html", **SIGNUP_FORMS.layout(found), signup_form=found,
                           purposes=PURPOSE_LABELS,
                           fields=signup_forms.fields_of(found), label=shared.label, book=book, entries=entries,
                           joined=joined, embed_code=shared.embed_code(found), embed_url=shared.embed_url(found),
                           count=signup_forms.entry_counts(db.session, [found.id]).get(found.id, 0))


@bp.route("/signup-forms/<int:form_id>/edit", methods=["GET", "POST"])
@staff_required("forms:write")
def signup_form_edit(form_id: int):
    found, form = SIGNUP_FORMS.find(form_id), SignupFormForm().with_books(_books())
    return SIGNUP_FORMS.edit_page(form, found, signup_forms.update_form)


def _books() -> list[CouponBook]:
    return list(db.session.scalars(coupons.books_query(current_user.organization_id).order_by(CouponBook.name)))
