"""TRUSTED_PROXIES: behind a reverse proxy the throttles must count the client's address, not the proxy's;
without the setting, X-Forwarded-For is anybody's to write and is ignored.

Every request comes from the proxy (10.0.0.2). Ten wrong passwords from one client, then the owner from
another client with the right one: refused while the proxy's address is all the app sees, let in when
it believes the proxy. Runs on an app of its own (the setting is read when the app is made).
"""
from __future__ import annotations

import pytest

from config import TestConfig
from portal import create_app
from portal.db import make_engine
from portal.domain import staff, throttle
from portal.domain.models import metadata
from portal.extensions import db
from tests import factories

from .console_helpers import PASSWORD, Console

PROXY, ATTACKER, OWNER = "10.0.0.2", "203.0.113.7", "198.51.100.9"


@pytest.fixture
def app_behind_proxy(tmp_path, request):
    """create(trusted_proxies) -> (app, staff email) on a fresh SQLite file; undone after the test."""
    made = []

    def create(trusted_proxies: int):
        url = f"sqlite:///{tmp_path / f'proxies-{trusted_proxies}.db'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        db.session.remove()
        application = create_app(type("Config", (TestConfig,), {"DATABASE_URL": url,
                                                                "TRUSTED_PROXIES": trusted_proxies}))
        db.session_factory.configure(join_transaction_mode="conditional_savepoint")
        made.append(application)
        with application.app_context():
            with db.transaction() as session:
                org = factories.make_org(session, name="Proxied")
                email = factories.make_staff(session, org, roles=["admin"], password=PASSWORD).email
            db.session.remove()
        return application, email

    yield create
    for application in made:
        db.session.remove()
        application.extensions["portal_db"].engine.dispose()


def sign_in(app, email: str, password: str, forwarded_for: str):
    console = Console(app.test_client())
    console.client.environ_base.update(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)
    return console.login(email, password).status_code


def failures_from(app, email: str, address: str) -> int:
    with app.app_context():
        count = throttle.failures(db.session, staff.LOGIN_SCOPES.pair, f"{email}\x1f{address}", throttle.HOUR)
        db.session.remove()
    return count


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app_behind_proxy):
    app, email = app_behind_proxy(0)
    assert app.config["TRUSTED_PROXIES"] == 0  # the default
    limit = throttle.LIMITS["login-account-address"].attempts
    assert [sign_in(app, email, "wrong", ATTACKER) for _ in range(limit)] == [200] * limit
    assert failures_from(app, email, PROXY) == limit and failures_from(app, email, ATTACKER) == 0
    assert sign_in(app, email, PASSWORD, OWNER) == 429  # the owner shares the proxy's address: refused


def test_with_one_trusted_proxy_the_throttles_count_the_clients_address(app_behind_proxy):
    app, email = app_behind_proxy(1)
    limit = throttle.LIMITS["login-account-address"].attempts
    # The attacker writes addresses of its own in front; the proxy appends the one it saw, and only that counts.
    answers = [sign_in(app, email, "wrong", f"192.0.2.{n}, {ATTACKER}") for n in range(limit)]
    assert answers == [200] * limit
    assert failures_from(app, email, ATTACKER) == limit and failures_from(app, email, PROXY) == 0
    assert sign_in(app, email, PASSWORD, ATTACKER) == 429
    assert sign_in(app, email, PASSWORD, OWNER) == 302  # the owner, from another client, gets in
