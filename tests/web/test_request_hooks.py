"""What every request pays: the app's hooks leave early when they have nothing to do (issue 11, tiny JSON), and
still do their work when they have."""
from __future__ import annotations

import pytest

from portal.extensions import csrf


def test_a_plain_hook_or_view_is_asked_about_once_and_a_coroutine_still_every_time(app):
    def plain():
        return "plain"

    async def coroutine():
        return "async"

    assert app.ensure_sync(plain) is plain and app.ensure_sync(plain) is plain
    assert plain in app._plain_callables
    for _ in range(2):  # never remembered as plain: Flask wraps it (or says asgiref is missing) each time
        try:
            assert app.ensure_sync(coroutine) is not coroutine
        except RuntimeError as error:
            assert "async" in str(error)
    assert coroutine not in app._plain_callables


@pytest.fixture
def protections(monkeypatch):
    calls = []
    protect = csrf.protect
    monkeypatch.setattr(csrf, "protect", lambda **kwargs: calls.append(kwargs) or protect(**kwargs))
    return calls


def test_a_get_never_reaches_the_csrf_check_and_a_form_post_does(client, protections):
    assert client.get("/healthz").status_code == 200
    assert client.get("/console/login").status_code == 200
    assert protections == []
    response = client.post("/console/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400  # no token: refused before the view (test_console_auth.py: nothing written)
    assert protections == [{"apply_exemptions": True}]


def test_the_csrf_check_follows_the_settings(app, client, protections, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    assert client.post("/console/login", data={"email": "a@example.com", "password": "x"}).status_code != 400
    assert protections == []
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    monkeypatch.setitem(app.config, "WTF_CSRF_METHODS", {"POST", "GET"})
    assert client.get("/console/login").status_code == 400
    assert protections == [{"apply_exemptions": True}]
