"""The provider's endpoints. authorize is the only page a person sees (login
first when needed, then the consent); the others answer partner back ends."""
from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..domain import partners, self_service
from ..db import writes_on_read
from ..extensions import db
from ..member import current_member, member_context
from . import bp
from .forms import ALLOW, ConsentForm
from .server import ALGORITHM, issuer, keystore, server

# The scopes in plain words, as the consent page and the profile page show them.
SCOPE_TEXTS = {
    partners.OPENID: _l("Confirm who you are when you sign in"),
    partners.PROFILE: _l("See your name and language"),
    partners.EMAIL: _l("See your email address"),
    partners.WALLET_READ: _l("See your points balance and points history"),
    partners.COUPONS_READ: _l("See your coupons and the offers you can claim"),
    partners.COUPONS_WRITE: _l("Claim offered coupons and activate your coupons for you"),
}

bp.context_processor(member_context)  # the consent page wears the member portal's look


@bp.app_template_global()
def scope_text(scope: str) -> str:
    return str(SCOPE_TEXTS.get(scope, scope))


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@writes_on_read  # issues the code at once when the member has consented before
def authorize():
    member = current_member()
    try:
        grant = server().get_consent_grant(end_user=member)
    except OAuth2Error as error:
        return _refusal(error)
    app = grant.client
    prompt = request.args.get("prompt", "")
    if member is None:
        if prompt == "none":
            return _redirect_error(grant, LoginRequiredError)
        return redirect(url_for("member.login", next=request.full_path))
    if member.organization_id != app.organization_id:
        return _error_page(_("This app cannot be used here"),
                           _("The app that sent you here belongs to another programme."))
    scope = grant.request.scope or ""
    if request.method == "GET":
        if "consent" not in prompt.split() and partners.consent_covers(db.session, app, member, scope):
            with db.transaction():
                return server().create_authorization_response(grant_user=member, grant=grant)
        if prompt == "none":
            return _redirect_error(grant, ConsentRequiredError)
        return _consent_page(app, scope, ConsentForm())
    form = ConsentForm()
    if not form.validate_on_submit():
        return _consent_page(app, scope, form, 400)
    if form.decision.data != ALLOW:
        return server().create_authorization_response(grant_user=None, grant=grant)  # error=access_denied
    with db.transaction() as session:
        partners.record_consent(session, app, member, scope, actor=self_service.member_actor(member))
        return server().create_authorization_response(grant_user=member, grant=grant)


@bp.post("/oauth/token")
def token():
    # authlib answers refusals as responses, not exceptions: what a refusal wrote (the tokens of a
    # reused code or refresh token, revoked) is committed with it.
    with db.transaction():
        return _no_store(server().create_token_response())


@bp.post("/oauth/revoke")
def revoke():
    with db.transaction():
        return server().create_endpoint_response("revocation")


@bp.post("/oauth/introspect")
def introspect():
    return _no_store(server().create_endpoint_response("introspection"))


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo():
    return _no_store(server().create_endpoint_response("userinfo"))


@bp.get("/oauth/jwks.json")
def jwks():
    response = jsonify(keystore().public_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    base = issuer()
    return jsonify({
        "issuer": base,
        "authorization_endpoint": base + url_for("oauth.authorize"),
        "token_endpoint": base + url_for("oauth.token"),
        "revocation_endpoint": base + url_for("oauth.revoke"),
        "introspection_endpoint": base + url_for("oauth.introspect"),
        "userinfo_endpoint": base + url_for("oauth.userinfo"),
        "jwks_uri": base + url_for("oauth.jwks"),
        "scopes_supported": list(partners.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [partners.CODE_GRANT, partners.REFRESH_GRANT, partners.CLIENT_CREDENTIALS_GRANT],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name",
                             "given_name", "family_name", "locale", "updated_at", "email"],
        "prompt_values_supported": ["none", "consent"],
    })


MACHINE_VIEWS = (token, revoke, introspect, userinfo)


def _consent_page(app, scope: str, form: ConsentForm, status: int = 200):
    return render_template("oauth/consent.html", app=app, scopes=partners.scope_list(scope), form=form,
                           action=request.full_path), status


def _refusal(error: OAuth2Error):
    """Back to the app with the error when its redirect URI is known good; otherwise a page, never a redirect."""
    if error.redirect_uri:
        return server().handle_error_response(None, error)
    return _error_page(_("This sign-in link does not work"),
                       _("The app that sent you here made a mistake (%(error)s). Please go back and try again.",
                         error=error.error), 400)


def _redirect_error(grant, error: type[OAuth2Error]):
    """prompt=none and a person would have to act: back to the app at once (OpenID Connect Core 3.1.2.6)."""
    return server().handle_error_response(None, error(redirect_uri=grant.redirect_uri,
                                                      state=grant.request.payload.state))


def _error_page(title: str, message: str, status: int = 400):
    return render_template("member/error.html", title=title, message=message), status


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
