"""What the embeddable page and the public signup API share: the limits from
the configuration, labels in the reader's language, the partner snippet, and
the one mail a submission sends (queued in its transaction)."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from sqlalchemy.orm import Session

from .. import mail
from ..domain import coupons, members, signup_forms
from ..domain.organizations import Organization
from ..domain.signup_forms import FormField, SignupForm, Submission
from ..urls import absolute_url

DEFAULT_THANKS = _l("Thank you for signing up! Please check your inbox.")


def limits() -> tuple[int, int]:
    """(per address, per form) submissions per hour."""
    config = current_app.config
    return (int(config.get("SIGNUP_FORM_LIMIT_PER_ADDRESS", signup_forms.LIMIT_PER_ADDRESS)),
            int(config.get("SIGNUP_FORM_LIMIT_PER_FORM", signup_forms.LIMIT_PER_FORM)))


def label(field: FormField) -> str:
    """Profile fields carry the portal's own label (translated); custom attributes the staff's text."""
    return field.label if field.custom else _(field.label)


def thank_you(form: SignupForm) -> str:
    return form.thank_you_text or str(DEFAULT_THANKS)


def embed_url(form: SignupForm) -> str:
    return absolute_url("embed.signup_form", public_id=form.public_id)


def embed_code(form: SignupForm) -> str:
    """The one tag a partner pastes where the form should appear."""
    return (f'<script src="{escape(absolute_url("embed.script"))}" data-form="{escape(form.public_id)}" '
            'async></script>')


def queue_mail(session: Session, submission: Submission) -> None:
    """A welcome for a new member, or a note to the owner of a taken email (at most a few an hour),
    queued in the submission's transaction."""
    signup, form = submission.signup, submission.form
    recipient = signup.member
    org_name = session.get(Organization, form.organization_id).name
    if signup.created:
        offer = None
        if submission.entry is not None and submission.entry.coupon_assigned:
            book = coupons.get_book(session, form.organization_id, form.coupon_book_id)
            offer = coupons.texts(book, recipient.locale).get("title") or book.name
        card_code = members.card_code_of(session, recipient.id) if form.purpose == signup_forms.LOYALTY_CARD \
            else None
        mail.queue(session, form.organization_id, recipient.email, _l("Welcome to %(name)s", name=org_name),
                   "signup_form_welcome", locale=recipient.locale, member=recipient, org_name=org_name,
                   purpose=form.purpose, offer=offer, card_code=card_code,
                   password_link=absolute_url("member.password_forgot"))
    elif signup.notify:
        mail.queue_account_exists(session, recipient, org_name)
