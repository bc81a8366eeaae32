"""A code or a refresh token presented by many requests at once, against a live server, on SQLite and
PostgreSQL: exactly one exchange succeeds, the others are clean invalid_grant answers, and since the
credential was presented again, what the one exchange produced ends up revoked."""
from __future__ import annotations

import secrets
from collections import Counter

import pytest
import requests
from sqlalchemy import select

from portal.domain import partners
from portal.domain.partners import OAuthToken
from portal.extensions import db
from tests import factories
from tests.web.oauth_helpers import REDIRECT, s256

from .live import parallel

pytestmark = pytest.mark.live
THREADS = 8


def set_up(live_app):
    verifier = secrets.token_urlsafe(48)
    challenge = s256(verifier)
    code = secrets.token_urlsafe(32)
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Races")
            app, secret = factories.make_partner_app(session, org)
            member = factories.make_member(session, org)
            partners.issue_code(session, app, member, code=code, redirect_uri=REDIRECT, scope="openid wallet:read",
                                code_challenge=challenge, code_challenge_method="S256")
            client_id = app.client_id
        db.session.remove()
    return {"client": (client_id, secret), "code": code, "verifier": verifier}


def tokens_of(live_app):
    with live_app.app_context():
        rows = db.session.scalars(select(OAuthToken)).all()
        db.session.remove()
    return rows


def test_one_code_presented_at_once_is_exchanged_once(live_app, live_server):
    world = set_up(live_app)
    answers = parallel(THREADS, lambda i: requests.post(f"{live_server.url}/oauth/token", auth=world["client"], data={
        "grant_type": "authorization_code", "code": world["code"], "redirect_uri": REDIRECT,
        "code_verifier": world["verifier"]}, timeout=30))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 400: THREADS - 1}, statuses
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}
    rows = tokens_of(live_app)
    assert len(rows) == 1 and rows[0].revoked_at is not None  # the code was presented again: its tokens go


def test_one_refresh_token_presented_at_once_is_exchanged_once(live_app, live_server):
    world = set_up(live_app)
    first = requests.post(f"{live_server.url}/oauth/token", auth=world["client"], data={
        "grant_type": "authorization_code", "code": world["code"], "redirect_uri": REDIRECT,
        "code_verifier": world["verifier"]}, timeout=30).json()
    answers = parallel(THREADS, lambda i: requests.post(f"{live_server.url}/oauth/token", auth=world["client"], data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, timeout=30))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 400: THREADS - 1}, statuses
    rows = tokens_of(live_app)
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)  # the whole family
