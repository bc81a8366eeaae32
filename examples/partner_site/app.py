"""An example partner site: "Sign in with <merchant>" through Portal, then the member's name and balance.

It is what a partner would build, using only authlib's OAuth client and Portal's public endpoints:
- discovery at PORTAL_URL/.well-known/openid-configuration,
- the authorisation code flow with PKCE (S256) and a nonce, as a confidential client,
- the id_token (checked against Portal's JWKS by authlib) for the member's name,
- the JSON API with the member's access token for their balance,
- a refresh when the access token has expired, and a clear message when the member disconnected the app.

Run it beside Portal with `make partner-demo`, or by hand:
  PORTAL_URL=http://127.0.0.1:5000 PARTNER_CLIENT_ID=pc_... PARTNER_CLIENT_SECRET=pcs_... \
  PARTNER_ORGANIZATION_ID=1 .venv/bin/flask --app examples/partner_site/app.py run --port 8001
"""
from __future__ import annotations

import os
import secrets

from authlib.integrations.flask_client import OAuth
from authlib.integrations.base_client.errors import OAuthError
from flask import Flask, redirect, render_template_string, session, url_for

SCOPE = "openid profile wallet:read"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bean &amp; Leaf partner shop</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
.card{border:1px solid #ccc;border-radius:8px;padding:1rem 1.5rem;margin:1rem 0}
.balance{font-size:2rem;font-weight:700}.button{display:inline-block;padding:.6rem 1rem;border-radius:6px;
background:#1a4d7a;color:#fff;text-decoration:none;border:0;font:inherit;cursor:pointer}
.notice{background:#fff4d6;border-color:#e0b84f}</style></head>
<body><h1>Bean &amp; Leaf partner shop</h1>
{% if notice %}<p class="card notice" id="notice">{{ notice }}</p>{% endif %}
{% if member %}
<section class="card" id="member"><p>Signed in as <strong id="member-name">{{ member.name }}</strong></p>
<p>Your points balance: <span class="balance" id="balance">{{ balance }}</span></p>
<form method="post" action="{{ url_for('logout') }}"><button class="button" type="submit">Sign out</button></form></section>
{% else %}
<section class="card"><p>Collect and see your loyalty points while you shop with us.</p>
<a class="button" id="sign-in" href="{{ url_for('login') }}">Sign in with your loyalty account</a></section>
{% endif %}
</body></html>"""


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        PORTAL_URL=os.environ.get("PORTAL_URL", "http://127.0.0.1:5000"),
        PARTNER_URL=os.environ.get("PARTNER_URL", "http://127.0.0.1:8001"),
        PARTNER_CLIENT_ID=os.environ.get("PARTNER_CLIENT_ID", ""),
        PARTNER_CLIENT_SECRET=os.environ.get("PARTNER_CLIENT_SECRET", ""),
        PARTNER_ORGANIZATION_ID=os.environ.get("PARTNER_ORGANIZATION_ID", "1"),
        SECRET_KEY=os.environ.get("PARTNER_SECRET_KEY") or secrets.token_urlsafe(32),
        # Portal and this site may share a host name on different ports, and cookies ignore ports.
        SESSION_COOKIE_NAME="partner_session",
    )
    app.config.update(config or {})
    portal_url = app.config["PORTAL_URL"].rstrip("/")
    oauth = OAuth(app, update_token=_keep_refreshed_token)
    oauth.register(
        "portal", client_id=app.config["PARTNER_CLIENT_ID"], client_secret=app.config["PARTNER_CLIENT_SECRET"],
        server_metadata_url=f"{portal_url}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"})

    @app.get("/")
    def home():
        token = session.get("token")
        if not token:
            return render_template_string(PAGE, member=None, notice=session.pop("notice", None))
        try:
            balance = _balance(oauth, app, token)
        except PermissionError:
            session.clear()
            return render_template_string(PAGE, member=None, notice="Your loyalty account is no longer connected "
                                                                    "to this shop. Sign in again to reconnect it.")
        return render_template_string(PAGE, member=session["member"], balance=balance, notice=None)

    @app.get("/login")
    def login():
        return oauth.portal.authorize_redirect(app.config["PARTNER_URL"].rstrip("/") + url_for("callback"),
                                               nonce=secrets.token_urlsafe(16))

    @app.get("/callback")
    def callback():
        try:
            token = oauth.portal.authorize_access_token()  # checks state, the id_token's signature and nonce
        except OAuthError as error:
            session["notice"] = f"Sign-in did not complete ({error.error})."
            return redirect(url_for("home"))
        claims = token["userinfo"]
        session["member"] = {"id": claims["sub"], "name": claims.get("name") or "member"}
        session["token"] = {k: token[k] for k in ("access_token", "refresh_token", "token_type", "expires_at")
                            if k in token}
        return redirect(url_for("home"))

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("home"))

    return app


def _keep_refreshed_token(name: str, token: dict, refresh_token: str | None = None,
                          access_token: str | None = None) -> None:
    """Portal rotates refresh tokens: keep the new pair, since presenting the old one again revokes them all."""
    session["token"] = {k: token[k] for k in ("access_token", "refresh_token", "token_type", "expires_at")
                        if k in token}


def _balance(oauth: OAuth, app: Flask, token: dict) -> int:
    """The member's balance in the programme's main points account, through Portal's JSON API."""
    url = (f"{app.config['PORTAL_URL'].rstrip('/')}/api/v1/organizations/{app.config['PARTNER_ORGANIZATION_ID']}"
           f"/members/{session['member']['id']}/wallet")
    try:
        response = oauth.portal.get(url, token=token)  # refreshes an expired access token (rotating refresh token)
    except OAuthError:  # the refresh token was refused: revoked, reused or expired
        raise PermissionError from None
    if response.status_code == 401:
        raise PermissionError
    response.raise_for_status()
    balances = response.json()["balances"]
    return balances[0]["balance"] if balances else 0


if __name__ == "__main__":
    create_app().run(port=int(os.environ.get("PARTNER_PORT", "8001")))
