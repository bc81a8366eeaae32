"""The embeddable signup page, its submission, and the partner's script.

A submission: a filled honeypot gets the thank-you page and nothing else; a
missing, foreign or expired token shows the form again with a fresh one; then
one domain call in one transaction. Refused by the rate limits, the page reads
like a success too (a bot learns nothing), and no member is created.
"""
from __future__ import annotations

from flask import current_app, make_response, render_template, request, send_from_directory
from flask_babel import get_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import CONTENT_SECURITY_POLICY
from ..domain import signup_forms
from ..domain.errors import NotFound
from ..domain.signup_forms import SignupForm, SubmissionInvalid
from ..domain.throttle import TooManyAttempts
from ..extensions import db
from . import bp, shared

TOKEN_SALT = "portal.embed.signup"
HONEYPOT = "website"
PREFIXES = ("profile.", "customAttributes.", "consents.")


@bp.get("/signup.js")
def script():
    response = send_from_directory(current_app.static_folder, "embed/signup.js", mimetype="text/javascript",
                                   max_age=300)
    # Partners load it from their pages: no cookies, nothing personal, the same for everyone.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/signup/<public_id>")
def signup_form(public_id: str):
    form, refusal = _open(public_id)
    if refusal is not None:
        return refusal
    return _page(form, "embed/signup.html", values={}, errors={}, token=issue_token(form))


@bp.post("/signup/<public_id>")
def signup_submit(public_id: str):
    form, refusal = _open(public_id)
    if refusal is not None:
        return refusal
    values = {key: value for key, value in request.form.items() if key.startswith(PREFIXES)}
    if request.form.get(HONEYPOT):
        return _page(form, "embed/thanks.html")
    if not token_is_valid(form, request.form.get("token", "")):
        return _page(form, "embed/signup.html", 400, values=values, errors={}, token=issue_token(form),
                     notice=_("This form has expired. Please check your entries and send it again."))
    try:
        with db.transaction() as session:
            submission = signup_forms.submit(
                session, form, address=request.remote_addr or "unknown", locale=str(get_locale()),
                limits=shared.limits(), **_split(values))
            shared.queue_mail(session, submission)
    except SubmissionInvalid as error:
        errors = {key: [_(message) for message in messages] for key, messages in error.errors.items()}
        return _page(form, "embed/signup.html", 422, values=values, errors=errors, token=issue_token(form))
    except TooManyAttempts:
        current_app.logger.warning("signup form %s: a submission was refused by the rate limits", form.public_id)
        return _page(form, "embed/thanks.html")
    except NotFound:
        return _page(form, "embed/closed.html", 404)
    return _page(form, "embed/thanks.html")


# --- the token: CSRF protection without a cookie -----------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_token(form: SignupForm) -> str:
    """A signed token bound to this form, valid for SIGNUP_FORM_TOKEN_MAX_AGE seconds."""
    return _serializer().dumps(form.public_id)


def token_is_valid(form: SignupForm, token: str) -> bool:
    if not token or len(token) > 500:
        return False
    try:
        named = _serializer().loads(token, max_age=current_app.config["SIGNUP_FORM_TOKEN_MAX_AGE"])
    except BadSignature:  # also SignatureExpired
        return False
    return named == form.public_id


# --- rendering -------------------------------------------------------------------------------

def frame_policy(form: SignupForm | None) -> str:
    """The page's CSP: only the form's allowed origins may frame it (none when it lists none)."""
    ancestors = " ".join(form.allowed_origins) if form is not None and form.allowed_origins else "'none'"
    return f"{CONTENT_SECURITY_POLICY}; form-action 'self'; frame-ancestors {ancestors}"


def _page(form: SignupForm, template: str, status: int = 200, **context):
    parent = request.values.get("parent", "")
    response = make_response(render_template(
        template, form=form, fields=signup_forms.fields_of(form), label=shared.label,
        thank_you=shared.thank_you(form), honeypot=HONEYPOT, current_locale=str(get_locale()),
        # The page tells its height only to a parent that may frame it.
        parent_origin=parent if parent in form.allowed_origins else "", **context), status)
    response.headers["Content-Security-Policy"] = frame_policy(form)
    response.headers["Cache-Control"] = "no-store"
    return response


def _open(public_id: str):
    """(form, None), or (None, the page to answer): an inactive form says it is closed where it may be framed;
    an unknown one says the same, framed nowhere."""
    form = signup_forms.find_public(db.session, public_id)
    if form is not None and form.active:
        return form, None
    if form is not None:
        return None, _page(form, "embed/closed.html", 404)
    response = make_response(render_template("embed/closed.html", form=None, current_locale=str(get_locale())), 404)
    response.headers["Cache-Control"] = "no-store"
    return None, response


def _split(values: dict[str, str]) -> dict:
    """Form inputs named like the API's fields (profile.email, consents.terms) -> the domain's arguments."""
    found: dict[str, dict] = {"profile": {}, "custom_attributes": {}, "consents": {}}
    for key, value in values.items():
        prefix, _, name = key.partition(".")
        if prefix == "consents":
            found["consents"][name] = bool(value)
        else:
            found["profile" if prefix == "profile" else "custom_attributes"][name] = value
    return found
