"""OAuth test helpers: partner apps, and a partner that walks the authorisation code flow
(with PKCE) through the test client as a partner site and a member's browser would."""
from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from portal.domain import partners
from tests import factories

from .page import CSRF_TOKEN
from .member_helpers import (PASSWORD, fresh_client, logged_in, mail_sink, make_member,  # noqa: F401
                             member, portal, smtp_sink)

REDIRECT = "https://partner.example/callback"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Partner:
    """One partner app; `browser` is the member's test client."""

    def __init__(self, browser, app, secret: str | None):
        self.browser, self.app, self.secret = browser, app, secret
        self.verifier = secrets.token_urlsafe(48)

    def params(self, **overrides) -> dict:
        params = {"response_type": "code", "client_id": self.app.client_id, "redirect_uri": REDIRECT,
                  "scope": "openid profile email wallet:read coupons:read coupons:write", "state": "st-123",
                  "nonce": secrets.token_urlsafe(8), "code_challenge": s256(self.verifier), "code_challenge_method": "S256"}
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **overrides):
        return self.browser.get("/oauth/authorize?" + urlencode(self.params(**overrides)))

    def consent(self, decision: str = "allow", *, remembered_ok: bool = False, **overrides):
        """Open the consent page and answer it; returns the answer (a redirect to the partner).
        With remembered_ok, a consent given before may answer at once instead."""
        url = "/oauth/authorize?" + urlencode(self.params(**overrides))
        page = self.browser.get(url)
        if remembered_ok and page.status_code == 302:
            return page
        assert page.status_code == 200, (page.status_code, page.location, page.get_data(as_text=True)[:300])
        token = CSRF_TOKEN.search(page.get_data(as_text=True)).group(1)
        return self.browser.post(url, data={"csrf_token": token, "decision": decision})

    def code(self, **overrides) -> str:
        response = self.consent(remembered_ok=True, **overrides)
        assert response.status_code == 302 and response.location.startswith(REDIRECT), response.location
        return query_of(response.location)["code"]

    def token_request(self, data: dict, *, secret: str | None = "default", client_id: str | None = None):
        """POST /oauth/token as the partner's back end (client_secret_basic for a confidential app)."""
        secret = self.secret if secret == "default" else secret
        headers = {}
        if secret is not None:
            basic = base64.b64encode(f"{client_id or self.app.client_id}:{secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        else:
            data = {"client_id": client_id or self.app.client_id, **data}
        return self.browser.post("/oauth/token", data=data, headers=headers)

    def exchange(self, code: str, verifier: str | None = "default", **kwargs):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        if verifier is not None:
            data["code_verifier"] = self.verifier if verifier == "default" else verifier
        return self.token_request(data, **kwargs)

    def tokens(self, **overrides) -> dict:
        response = self.exchange(self.code(**overrides))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def refresh(self, refresh_token: str, **kwargs):
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}, **kwargs)

    def client_auth(self, data: dict, path: str):
        basic = base64.b64encode(f"{self.app.client_id}:{self.secret}".encode()).decode()
        return self.browser.post(path, data=data, headers={"Authorization": f"Basic {basic}"})


@pytest.fixture
def make_partner_app(session, org):
    """make_partner_app(client_type=..., bundle=..., **fields) -> (app, secret), committed."""

    def make(bundle=None, client_type: str = partners.CONFIDENTIAL, **fields):
        app, secret = factories.make_partner_app(session, bundle or org, client_type=client_type, **fields)
        session.commit()
        return app, secret

    return make


@pytest.fixture
def partner(portal, logged_in, make_partner_app):
    """A confidential partner app and the logged-in member's browser."""
    app, secret = make_partner_app()
    return Partner(portal.client, app, secret)
