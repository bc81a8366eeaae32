"""Member portal pages. Views parse the form, call one domain function inside
one transaction, then redirect or render; mail goes out after the commit."""
from __future__ import annotations

import json
import time
from functools import wraps
from urllib.parse import urlsplit

from flask import (Response, abort, current_app, flash, g, make_response, redirect, render_template, request,
                   session as browser_session, url_for)
from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from ..domain import self_service, cards, members, organizations, points, referrals, statements, tiers
from ..domain.errors import DomainError, NotFound
from ..domain.organizations import Organization
from ..domain.throttle import TooManyAttempts
from ..extensions import db, htmx
from ..i18n import LANG_COOKIE, LANGUAGES
from .. import mail
from . import MemberSession, bp
from .forms import (ConfirmForm, DeleteAccountForm, ForgotPasswordForm, LanguageForm, LoginForm,
                    PasswordChangeForm, ProfileForm, ResetPasswordForm, SignupForm)

# Pages in the member menu, in order. Coupons and referrals appear once their
# views exist (endpoints member.coupons and member.referrals).
NAV = [("member.wallet", _l("Wallet")), ("member.card", _l("Card")), ("member.coupons", _l("Coupons")),
       ("member.referrals", _l("Referrals")), ("member.profile", _l("Profile"))]

# Domain field names -> form field names.
FIELDS = {"password": "password", "acceptTerms": "accept_terms", "referralCode": "referral_code",
          "profile.email": "email", "profile.givenName": "given_name", "profile.familyName": "family_name",
          "profile.birthDate": "birth_date", "profile.phone": "phone", "profile.street": "street",
          "profile.city": "city", "profile.zipCode": "zip_code", "profile.countryCode": "country_code",
          "locale": "locale", "currentPassword": "current_password"}
# Domain messages written for the API, reworded for people.
MESSAGES = {"birthDate cannot be in the future": _l("The birth date cannot be in the future"),
            "Not a valid email address": _l("Enter an email address like name@example.com"),
            "countryCode must be two letters (ISO 3166-1)": _l("Use the two-letter country code, like DE")}
# Messages marked with N_ in portal/domain/self_service.py, listed here so that `pybabel extract` finds them.
_DOMAIN_MESSAGES = [_l("Use at least 10 characters"), _l("Use at most 200 characters"),
                    _l("This password is too easy to guess"),
                    _l("Do not use your name or email address in the password"),
                    _l("This is not a valid referral code"), _l("Please accept the terms to join"),
                    _l("Email or password is not correct"),
                    _l("Too many attempts. Please wait a while and try again."),
                    _l("This link is invalid or has expired"), _l("This is not your current password"),
                    _l("Choose one of the offered languages")]
HISTORY_TYPE_LABELS = {"mint": _l("Earned"), "burn": _l("Redeemed"), "transfer": _l("Transfer"),
                       "capture": _l("Confirmed"), "revert": _l("Reversal")}


# --- helpers ---------------------------------------------------------------------------

def current_member() -> members.Member | None:
    if current_user.is_authenticated and getattr(current_user, "kind", None) == "member":
        return current_user.member
    return None


def member_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_member() is None:
            target = url_for("member.login", next=request.full_path.rstrip("?"))
            if htmx:
                response = make_response("", 401)
                response.headers["HX-Redirect"] = target
                return response
            return redirect(target)
        return view(*args, **kwargs)

    return wrapped


def portal_organization_id() -> int:
    """The organisation whose portal this is: the member's, else PORTAL_ORGANIZATION_ID, else the first one."""
    member = current_member()
    if member is not None:
        return member.organization_id
    if "portal_org_id" not in g:
        configured = current_app.config.get("PORTAL_ORGANIZATION_ID")
        org_id = int(configured) if configured else db.session.scalar(
            select(Organization.id).order_by(Organization.id).limit(1))
        if org_id is None:
            abort(503, "No organisation yet: create one with `flask --app app orgs create`")
        g.portal_org_id = org_id
    return g.portal_org_id


def translate(message: str) -> str:
    if message in MESSAGES:
        return str(MESSAGES[message])
    return _(message)


def attach_error(form, error: DomainError, fields: dict[str, str] | None = None) -> None:
    """Show a domain error on the form field it names, else above the form."""
    mapping = {**FIELDS, **(fields or {})}
    field = getattr(form, mapping.get(error.field or "", ""), None)
    if field is not None:
        field.errors = [*field.errors, translate(error.message)]
    else:
        form.form_errors.append(translate(error.message))


def safe_next(target: str | None, default: str) -> str:
    """Only paths on this site: never an absolute or scheme-relative URL."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def client_address() -> str:
    return request.remote_addr or "unknown"


def sign_in(member: members.Member) -> None:
    browser_session.clear()  # a fresh session: nothing from before the login survives
    login_user(MemberSession(member))
    browser_session["signed_in_at"] = int(time.time())  # the id_token's auth_time (portal/oauth)


@bp.context_processor
def member_context():
    member = current_member()
    try:
        org = db.session.get(Organization, portal_organization_id())
    except HTTPException:  # no organisation yet: the page says so itself
        org = None
    return {"member": member, "current_locale": _current_locale(), "format_number": format_number,
            "member_nav": [(e, label) for e, label in NAV if e in current_app.view_functions],
            "portal_name": org.name if org else "Portal"}


@bp.errorhandler(CSRFError)
def csrf_refused(error):
    return render_template("member/error.html", title=_("This form has expired"),
                           message=_("Please go back, reload the page and try again.")), 400


@bp.errorhandler(404)
def not_found(error):
    return render_template("member/error.html", title=_("Page not found"),
                           message=_("There is nothing here.")), 404


# --- landing, language, referral links ----------------------------------------------------

@bp.get("/")
def home():
    if current_member() is not None:
        return redirect(url_for("member.wallet"))
    return render_template("member/home.html")


@bp.get("/join/<code>")
def join(code: str):
    """A referral code's share link: the signup form with the code filled in. A code that is
    unknown, malformed or of a programme that is not running gives the same form, empty, with a
    neutral note instead of an error page."""
    if current_member() is not None:
        return redirect(url_for("member.wallet"))
    form = SignupForm()
    try:
        found = referrals.validate_code(db.session, portal_organization_id(), self_service.check_referral_code(code))
    except DomainError:
        flash(_("This invitation link is not valid any more, but you are welcome to join."), "info")
    else:
        form.referral_code.data = found.code
        flash(_("A friend invited you: join with their code and you both collect extra points."), "info")
    return render_template("member/signup.html", form=form)


@bp.post("/language")
def language():
    form = LanguageForm()
    target = safe_next(form.next.data or request.referrer and urlsplit(request.referrer).path, url_for("member.home"))
    if not form.validate_on_submit():
        return redirect(target)
    member = current_member()
    if member is not None:
        with db.transaction() as session:
            self_service.set_locale(session, member, form.lang.data)
    response = redirect(target)
    response.set_cookie(LANG_COOKIE, form.lang.data, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


# --- signup ------------------------------------------------------------------------------

@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_member() is not None:
        return redirect(url_for("member.wallet"))
    form = SignupForm()
    if request.method == "GET" and request.args.get("ref"):
        form.referral_code.data = request.args["ref"][:40]
    if not form.validate_on_submit():
        return render_template("member/signup.html", form=form), 422 if request.method == "POST" else 200
    org_id = portal_organization_id()
    try:
        with db.transaction() as session:
            self_service.check_signup_rate(session, client_address())
            outcome = self_service.sign_up(
                session, org_id, email=form.email.data, password=form.password.data,
                given_name=form.given_name.data, family_name=form.family_name.data,
                birth_date=form.birth_date.data, accept_terms=form.accept_terms.data,
                optins={"email": form.optin_email.data, "sms": form.optin_sms.data},
                referral_code=form.referral_code.data, locale=str(_current_locale()))
    except TooManyAttempts as error:
        form.form_errors.append(translate(error.message))
        return render_template("member/signup.html", form=form), 429
    except DomainError as error:
        attach_error(form, error)
        return render_template("member/signup.html", form=form), 422
    recipient, org_name = outcome.member, _org_name(org_id)
    if outcome.created:
        mail.send(recipient.email, _l("Welcome to %(name)s", name=org_name), "welcome", locale=recipient.locale,
                  member=recipient, org_name=org_name,
                  link=url_for("member.signup_confirm", token=outcome.token, _external=True))
    elif outcome.notify:
        mail.send(recipient.email, _l("Someone tried to sign up with your email address"), "account_exists",
                  locale=recipient.locale, member=recipient, org_name=org_name,
                  login_link=url_for("member.login", _external=True),
                  reset_link=url_for("member.password_forgot", _external=True))
    return redirect(url_for("member.signup_sent"))


@bp.get("/signup/sent")
def signup_sent():
    return render_template("member/signup_sent.html")


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
def signup_confirm(token: str):
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        # Opening the link changes nothing (mail scanners open links too); the button does.
        valid = self_service.link_is_valid(db.session, portal_organization_id(), token, self_service.SIGNUP_LINK)
        return render_template("member/signup_confirm.html", form=form, valid=valid), 200 if valid else 404
    try:
        with db.transaction() as session:
            member = self_service.confirm_signup(session, portal_organization_id(), token)
    except NotFound:
        return render_template("member/signup_confirm.html", form=form, valid=False), 404
    sign_in(member)
    flash(_("Welcome! Your card is ready."), "success")
    return redirect(url_for("member.wallet"))


# --- login and logout ----------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
    if not form.validate_on_submit():
        return render_template("member/login.html", form=form), 422 if request.method == "POST" else 200
    try:
        with db.transaction() as session:
            member = self_service.authenticate(session, portal_organization_id(), form.email.data, form.password.data,
                                           address=client_address())
    except TooManyAttempts as error:
        form.form_errors.append(translate(error.message))
        return render_template("member/login.html", form=form), 429
    if member is None:
        form.form_errors.append(translate(self_service.GENERIC_LOGIN_ERROR))
        return render_template("member/login.html", form=form), 422
    sign_in(member)
    return redirect(safe_next(form.next.data, url_for("member.wallet")))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = ConfirmForm(prefix="logout")
    if request.method == "POST" and form.validate_on_submit():
        logout_user()
        browser_session.clear()
        flash(_("You are logged out."), "success")
        return redirect(url_for("member.login"))
    if current_member() is None:
        return redirect(url_for("member.login"))
    return render_template("member/logout.html", form=form)


# --- forgotten password -----------------------------------------------------------------------

@bp.route("/password/forgot", methods=["GET", "POST"])
def password_forgot():
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("member/password_forgot.html", form=form), 422 if request.method == "POST" else 200
    org_id = portal_organization_id()
    try:
        with db.transaction() as session:
            found = self_service.request_password_reset(session, org_id, form.email.data, address=client_address())
    except TooManyAttempts as error:
        form.form_errors.append(translate(error.message))
        return render_template("member/password_forgot.html", form=form), 429
    if found is not None:
        member, token = found
        mail.send(member.email, _l("Reset your password"), "password_reset", locale=member.locale, member=member,
                  org_name=_org_name(org_id), link=url_for("member.password_reset", token=token, _external=True),
                  hours=int(self_service.TOKEN_LIFETIME[self_service.PASSWORD_RESET].total_seconds() // 3600))
    return redirect(url_for("member.password_forgot_sent"))


@bp.get("/password/forgot/sent")
def password_forgot_sent():
    return render_template("member/password_forgot_sent.html")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    form = ResetPasswordForm()
    org_id = portal_organization_id()
    if not form.validate_on_submit():
        if not self_service.link_is_valid(db.session, org_id, token, self_service.PASSWORD_RESET):
            return render_template("member/password_reset.html", form=form, valid=False), 404
        return render_template("member/password_reset.html", form=form, valid=True), (
            422 if request.method == "POST" else 200)
    try:
        with db.transaction() as session:
            member = self_service.reset_password(session, org_id, token, form.password.data)
    except NotFound:
        return render_template("member/password_reset.html", form=form, valid=False), 404
    except DomainError as error:
        attach_error(form, error)
        return render_template("member/password_reset.html", form=form, valid=True), 422
    sign_in(member)
    flash(_("Your password was changed."), "success")
    return redirect(url_for("member.wallet"))


# --- wallet ------------------------------------------------------------------------------------

@bp.get("/wallet")
@member_required
def wallet():
    member = current_member()
    session = db.session
    program = organizations.default_program(session, member.organization_id)
    account_id = request.args.get("account", type=int)
    if request.args.get("account") and account_id is None:
        abort(404)
    try:
        account = statements.member_account(session, member, account_id, program.points_account_id)
        tx_type = request.args.get("type") or None
        page_number = request.args.get("page", 0, type=int)
        history = statements.history(session, statements.own_wallet(session, member, account),
                                     page=page_number, tx_type=tx_type)
    except NotFound:
        abort(404)
    except DomainError:
        abort(400)
    context = {"history": history, "account": account, "tx_type": tx_type or "", "account_param": account_id,
               "type_labels": HISTORY_TYPE_LABELS}
    if htmx and not htmx.history_restore_request:
        response = make_response(render_template("member/_history_rows.html", **context))
    else:
        points_account = session.get(statements.LedgerAccount, program.points_account_id)
        points_wallet = statements.own_wallet(session, member, points_account)
        response = make_response(render_template(
            "member/wallet.html", balances=points.balances(session, member),
            progress=tiers.progress(session, member.id, program),
            expiring=statements.expiring_points(session, points_wallet, points_account),
            points_account_id=program.points_account_id, tier_account_id=program.tier_points_account_id,
            **context))
    response.vary.add("HX-Request")
    return response


# --- card ---------------------------------------------------------------------------------------

@bp.get("/card")
@member_required
def card():
    member = current_member()
    return render_template("member/card.html", **_card_context(member, inline_svg=True))


@bp.get("/card.pdf")
@member_required
def card_pdf():
    member = current_member()
    context = _card_context(member, inline_svg=False)
    if not context["code"]:
        abort(404)
    html = render_template("member/card_pdf.html", **context)
    response = make_response(cards.render_pdf(html))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="card-{context["code"]}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _card_context(member: members.Member, *, inline_svg: bool) -> dict:
    session = db.session
    code = members.card_code_of(session, member.id)
    program = organizations.default_program(session, member.organization_id)
    context = {"code": code, "progress": tiers.progress(session, member.id, program),
               "org_name": _org_name(member.organization_id), "member_name": member.display_name}
    if code and inline_svg:
        context["barcode_svg"] = cards.code128_svg(code, label=_("Barcode of card number %(code)s", code=code))
        context["qr_svg"] = cards.qr_svg(code, label=_("QR code of card number %(code)s", code=code))
    elif code:
        context["barcode_png"] = cards.data_uri(cards.code128_png(code))
        context["qr_png"] = cards.data_uri(cards.qr_png(code))
    return context


# --- profile --------------------------------------------------------------------------------------

def _profile_forms(member: members.Member, **overrides):
    forms = {
        "profile_form": ProfileForm(formdata=None, data={
            "given_name": member.given_name, "family_name": member.family_name, "birth_date": member.birth_date,
            "phone": member.phone, "street": member.street, "zip_code": member.zip_code, "city": member.city,
            "country_code": member.country_code, "optin_email": bool(member.optins.get("email")),
            "optin_sms": bool(member.optins.get("sms")), "locale": member.locale}),
        "password_form": PasswordChangeForm(formdata=None, prefix="pw"),
        "delete_form": DeleteAccountForm(formdata=None, prefix="del"),
        "export_form": ConfirmForm(formdata=None, prefix="export"),
    }
    forms.update(overrides)
    return forms


def _render_profile(member, status=200, **overrides):
    from .app_views import connected_apps_context

    return render_template("member/profile.html", email=member.email, **_profile_forms(member, **overrides),
                           **connected_apps_context(member)), status


@bp.route("/profile", methods=["GET", "POST"])
@member_required
def profile():
    member = current_member()
    if request.method == "GET":
        return _render_profile(member)
    form = ProfileForm()
    if not form.validate_on_submit():
        return _render_profile(member, 422, profile_form=form)
    try:
        with db.transaction() as session:
            self_service.update_own_profile(session, member, profile={
                "givenName": form.given_name.data, "familyName": form.family_name.data,
                "birthDate": form.birth_date.data, "phone": form.phone.data, "street": form.street.data,
                "zipCode": form.zip_code.data, "city": form.city.data, "countryCode": form.country_code.data},
                optins={"email": form.optin_email.data, "sms": form.optin_sms.data}, locale=form.locale.data)
    except DomainError as error:
        db.session.refresh(member)
        attach_error(form, error)
        return _render_profile(member, 422, profile_form=form)
    flash(_("Your details were saved."), "success")
    return redirect(url_for("member.profile"))


@bp.post("/profile/password")
@member_required
def profile_password():
    member = current_member()
    form = PasswordChangeForm(prefix="pw")
    if not form.validate_on_submit():
        return _render_profile(member, 422, password_form=form)
    try:
        with db.transaction() as session:
            self_service.change_password(session, member, form.current_password.data, form.new_password.data)
    except DomainError as error:
        db.session.refresh(member)
        attach_error(form, error, {"password": "new_password"})
        return _render_profile(member, 422, password_form=form)
    login_user(MemberSession(member))  # the session fingerprint follows the new password
    flash(_("Your password was changed."), "success")
    return redirect(url_for("member.profile"))


@bp.post("/profile/data")
@member_required
def profile_data():
    member = current_member()
    form = ConfirmForm(prefix="export")
    if not form.validate_on_submit():
        abort(400)
    with db.transaction() as session:
        data = self_service.export_member_data(session, member)
        self_service.record_export(session, member, self_service.member_actor(member))
    body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="my-data.json"', "Cache-Control": "no-store"})


@bp.post("/profile/delete")
@member_required
def profile_delete():
    member = current_member()
    form = DeleteAccountForm(prefix="del")
    if not form.validate_on_submit():
        return _render_profile(member, 422, delete_form=form)
    try:
        with db.transaction() as session:
            self_service.erase_own_account(session, member, form.password.data)
    except DomainError as error:
        db.session.refresh(member)
        attach_error(form, error, {"currentPassword": "password"})
        return _render_profile(member, 422, delete_form=form)
    logout_user()
    browser_session.clear()
    flash(_("Your account was deleted. Your personal data is gone."), "success")
    return redirect(url_for("member.home"))


# --- internals ------------------------------------------------------------------------------------

def _org_name(organization_id: int) -> str:
    org = db.session.get(Organization, organization_id)
    return org.name if org else "Portal"


def _current_locale() -> str:
    from flask_babel import get_locale

    locale = get_locale()
    return str(locale) if locale and str(locale) in LANGUAGES else "en"

