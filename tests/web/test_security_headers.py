"""Security headers on every response: every GET route in the URL map, signed out and as an admin,
errors included (404, 405, 500)."""
from __future__ import annotations

import re

import pytest

from portal import CONTENT_SECURITY_POLICY, STRICT_TRANSPORT_SECURITY
from tests import factories

# A known form may be framed by its own origins (tests/web/test_embed_signup.py checks which).
EMBED = "embed.signup_form"


def get_paths(app, org, member) -> list[tuple[str, str]]:
    """(endpoint, path) for every GET route, path parameters filled with real ids where one fits."""
    ids = {"organization": org.id, "member": member.id}
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        values = {}
        for name in rule.arguments:
            converter = type(rule._converters[name]).__name__
            known = next((value for prefix, value in ids.items() if name.lower().startswith(prefix)), 1)
            values[name] = known if converter in ("IntegerConverter", "NumberConverter") else "x"
        path = rule.build(values, append_unknown=False)[1]
        paths.append((rule.endpoint, path))
    return paths


def assert_secure_headers(response, where: str, *, frameable: bool = False) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    assert policy.startswith(CONTENT_SECURITY_POLICY), where
    directives = dict(re.split(r"\s+", d.strip(), maxsplit=1) for d in policy.split(";") if " " in d.strip())
    scripts = directives.get("script-src", directives["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "same-origin", where
    if not frameable:
        assert directives.get("frame-ancestors") == "'none'", where
        assert headers.get("X-Frame-Options") == "DENY", where


@pytest.fixture
def walk(app, client, session, org):
    member = factories.make_member(session, org)
    session.commit()
    paths = get_paths(app, org, member)

    def run(headers=None) -> list[int]:
        statuses = []
        for endpoint, path in paths:
            response = client.get(path, headers=headers or {})
            assert_secure_headers(response, f"{endpoint} {path} -> {response.status_code}",
                                  frameable=endpoint == EMBED and response.status_code == 200)
            statuses.append(response.status_code)
        return statuses

    return run


def test_every_get_route_signed_out(walk, org):
    statuses = walk()
    statuses += walk({"Authorization": f"Bearer {org.api_key}"})  # the API's own pages, with a key
    assert len(statuses) > 100 and 200 in statuses and 404 in statuses


def test_every_get_route_as_an_admin(walk, signed_in):
    statuses = walk()
    assert statuses.count(200) > 20


def test_errors_carry_the_headers_too(app, client, monkeypatch):
    assert_secure_headers(client.get("/no-such-page"), "404")
    assert_secure_headers(client.get("/api/v1/no-such-thing"), "api 404")
    assert_secure_headers(client.post("/healthz"), "405")

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "healthz", broken)
    response = client.get("/healthz")
    assert response.status_code == 500
    assert_secure_headers(response, "500")


def test_strict_transport_security_only_with_secure_cookies(app, client, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    assert client.get("/healthz").headers["Strict-Transport-Security"] == STRICT_TRANSPORT_SECURITY


def test_the_api_and_the_health_check_open_no_browser_session(client, signed_in, api):
    """A bearer-token request never reads the session cookie: it opens no session, answers without
    `Vary: Cookie` and sets no cookie, even when the browser sends a signed-in session; the console still has its
    session (and varies by it)."""
    for response, where in ((api.get("/members"), "api"), (client.get("/healthz"), "healthz"),
                            (client.get("/api/v1/no-such-thing"), "api 404")):
        assert "Cookie" not in response.headers.get("Vary", ""), where
        assert "Set-Cookie" not in response.headers, where
        assert_secure_headers(response, where)
    console = client.get("/console/")
    assert console.status_code == 200 and "Cookie" in console.headers["Vary"]
