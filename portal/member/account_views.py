"""Member portal account pages: the landing page and language, signup (also from a referral
link), login and logout, a forgotten password, and the member's profile, password, data
export and erasure. Views parse the form, call one domain function inside one transaction
(portal/forms.py: submit), then redirect or render; mail is queued in that transaction (portal/mail.py)."""
from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask import session as browser_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user

from ..auth import begin_session, end_session
from ..domain import self_service, members
from ..domain.errors import DomainError, NotFound
from ..domain.throttle import TooManyAttempts
from ..extensions import db
from ..forms import form_status, safe_next, submit
from ..i18n import LANG_COOKIE
from .. import mail
from ..db import writes_on_read
from ..urls import absolute_url
from . import (MemberSession, bp, current_locale, current_member, member_required, organization_name,
               portal_organization_id)
from .partner_app_views import connected_apps_context
from .account_forms import (ConfirmForm, DeleteAccountForm, ForgotPasswordForm, LanguageForm, LoginForm,
                            PasswordChangeForm, ProfileForm, ResetPasswordForm, SignupForm)

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


# --- helpers ---------------------------------------------------------------------------

def translate(message: str) -> str:
    if message in MESSAGES:
        return str(MESSAGES[message])
    return _(message)


def client_address() -> str:
    return request.remote_addr or "unknown"


def _saved(form, action, fields=FIELDS) -> bool:
    """Whether the posted `form` is valid and `action()`, its domain call, is committed (see
    forms.submit); else its errors, the domain's in the member's language, are on the form."""
    return form.validate_on_submit() and submit(form, action, fields, translate)[0]


def _page_or_mail_sent(template: str, form, action, sent: str):
    """A public form answered by mail (signup, a forgotten password): drawn on a GET and again after
    an invalid or refused POST (422; 429 after too many attempts); once `action()` is committed, on
    to the page `sent` that says a mail is on its way."""
    refusal = None
    if form.validate_on_submit():
        done, refusal = submit(form, action, FIELDS, translate)
        if done:
            return redirect(url_for(sent))
    return render_template(template, form=form), _refused_status(refusal) if refusal else form_status()


def _mail_link(member: members.Member, subject, template: str, endpoint: str, token: str, **context) -> None:
    """Queue the mail `template` to the member, in their language, with the link to `endpoint` that `token` opens."""
    mail.queue(db.session, member.organization_id, member.email, subject, template, locale=member.locale,
               member=member, org_name=organization_name(member.organization_id),
               link=absolute_url(endpoint, token=token), **context)


def sign_in(member: members.Member) -> None:
    begin_session(MemberSession(member))  # a fresh session: nothing from before the login survives
    browser_session["signed_in_at"] = int(time.time())  # the id_token's auth_time (portal/oauth)


# --- landing, language, referral links ----------------------------------------------------

@bp.get("/")
def home():
    if current_member() is not None:
        return redirect(url_for("member.wallet"))
    return render_template("member/home.html")


@bp.get("/join/<code>")
@writes_on_read  # counts an unknown code against the address
def join(code: str):
    """A referral code's share link: the signup form with the code filled in. A code that is
    unknown, malformed or of a programme that is not running gives the same form, empty, with a
    neutral note instead of an error page."""
    if current_member() is not None:
        return redirect(url_for("member.wallet"))
    form = SignupForm()
    with db.transaction() as session:  # an unknown code is counted against the address
        found = self_service.invitation(session, portal_organization_id(), code, address=client_address())
    if found is None:
        flash(_("This invitation link is not valid any more, but you are welcome to join."), "info")
    else:
        form.referral_code.data = found.code
        flash(_("A friend invited you: join with their code and you both collect extra points."), "info")
    return render_template("member/signup.html", form=form)


@bp.post("/language")
def language():
    form = LanguageForm()
    target = safe_next(form.next.data or request.referrer and urlsplit(request.referrer).path) or url_for("member.home")
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
    org_id = portal_organization_id()

    def sign_up():
        session = db.session
        self_service.check_signup_rate(session, client_address())
        outcome = self_service.sign_up(
            session, org_id, email=form.email.data, password=form.password.data,
            given_name=form.given_name.data, family_name=form.family_name.data,
            birth_date=form.birth_date.data, accept_terms=form.accept_terms.data,
            optins={"email": form.optin_email.data, "sms": form.optin_sms.data},
            referral_code=form.referral_code.data, locale=str(current_locale()))
        recipient, org_name = outcome.member, organization_name(org_id)
        if outcome.created:
            _mail_link(recipient, _l("Welcome to %(name)s", name=org_name), "welcome", "member.signup_confirm",
                       outcome.token)
        elif outcome.notify:
            mail.queue_account_exists(session, recipient, org_name)
        return outcome

    return _page_or_mail_sent("member/signup.html", form, sign_up, "member.signup_sent")


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
        form.next.data = safe_next(request.args.get("next")) or ""
    if not form.validate_on_submit():
        return render_template("member/login.html", form=form), form_status()
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
    return redirect(safe_next(form.next.data) or url_for("member.wallet"))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = ConfirmForm(prefix="logout")
    if request.method == "POST" and form.validate_on_submit():
        if current_member() is not None:
            with db.transaction() as session:
                self_service.sign_out(session, current_member())
        end_session()
        flash(_("You are logged out."), "success")
        return redirect(url_for("member.login"))
    if current_member() is None:
        return redirect(url_for("member.login"))
    return render_template("member/logout.html", form=form)


# --- forgotten password -----------------------------------------------------------------------

@bp.route("/password/forgot", methods=["GET", "POST"])
def password_forgot():
    form = ForgotPasswordForm()
    org_id = portal_organization_id()

    def request_reset():
        found = self_service.request_password_reset(db.session, org_id, form.email.data, address=client_address())
        if found is not None:
            member, token = found
            _mail_link(member, _l("Reset your password"), "password_reset", "member.password_reset", token,
                       hours=int(self_service.TOKEN_LIFETIME[self_service.PASSWORD_RESET].total_seconds() // 3600))
        return found

    return _page_or_mail_sent("member/password_forgot.html", form, request_reset, "member.password_forgot_sent")


# The pages after a form answered by mail (see `_page_or_mail_sent`): the mail is on its way.
@bp.get("/signup/sent")
def signup_sent():
    return render_template("member/signup_sent.html")


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
        return render_template("member/password_reset.html", form=form, valid=True), form_status()
    done, member = submit(form, lambda: self_service.reset_password(db.session, org_id, token, form.password.data),
                          FIELDS, translate)
    if not done:
        valid = not isinstance(member, NotFound)
        return render_template("member/password_reset.html", form=form, valid=valid), 422 if valid else 404
    sign_in(member)
    flash(_("Your password was changed."), "success")
    return redirect(url_for("member.wallet"))


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
    return render_template("member/profile.html", email=member.email, **_profile_forms(member, **overrides),
                           **connected_apps_context(member)), status


def _profile_form_sent(name: str, form, action, fields=FIELDS, *, told, then=None, to: str = "member.profile"):
    """One of the profile page's forms posted (`name`: its name on the page, "password_form"): once
    `action(member)` is committed (see `_saved`), `then(member)` (the browser session's change, if any),
    flash `told` in the member's language and go to the page `to`; else the profile page again (422)
    with this form and its errors."""
    member = current_member()
    if not _saved(form, lambda: action(member), fields):
        return _render_profile(member, 422, **{name: form})
    if then:
        then(member)
    flash(str(told), "success")
    return redirect(url_for(to))


@bp.route("/profile", methods=["GET", "POST"])
@member_required
def profile():
    if request.method == "GET":
        return _render_profile(current_member())
    form = ProfileForm()
    return _profile_form_sent("profile_form", form, lambda member: self_service.update_own_profile(
        db.session, member, profile={
            "givenName": form.given_name.data, "familyName": form.family_name.data,
            "birthDate": form.birth_date.data, "phone": form.phone.data, "street": form.street.data,
            "zipCode": form.zip_code.data, "city": form.city.data, "countryCode": form.country_code.data},
        optins={"email": form.optin_email.data, "sms": form.optin_sms.data}, locale=form.locale.data),
        told=_l("Your details were saved."))


@bp.post("/profile/password")
@member_required
def profile_password():
    form = PasswordChangeForm(prefix="pw")
    return _profile_form_sent("password_form", form, lambda member: self_service.change_password(
        db.session, member, form.current_password.data, form.new_password.data),
        {**FIELDS, "password": "new_password"}, told=_l("Your password was changed."),
        # this session goes on with the new fingerprint; the others end
        then=lambda member: login_user(MemberSession(member)))


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
    form = DeleteAccountForm(prefix="del")
    return _profile_form_sent("delete_form", form, lambda member: self_service.erase_own_account(
        db.session, member, form.password.data), {**FIELDS, "currentPassword": "password"},
        told=_l("Your account was deleted. Your personal data is gone."), then=lambda _: end_session(),
        to="member.home")


def _refused_status(refusal: DomainError) -> int:
    return 429 if isinstance(refusal, TooManyAttempts) else 422
