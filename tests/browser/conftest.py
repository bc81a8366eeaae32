"""Browser-test fixtures shared by every area (console, member portal, ...).

- Debian's Chromium driven by Playwright (its own browser download cannot work here).
- `live_url`: the app served by werkzeug on a loopback port in a daemon thread, on
  a fresh database with real commits, once per backend (SQLite and PostgreSQL, as
  every other test): the pages' transactions and locks run on both.
- `seed`: creates committed data in that database (organisations, staff, members,
  points, tiers) through `db.transaction()`; every call makes new, unique rows,
  so tests do not collide.
- `screenshot(page, "name")`: saves tests/browser/screenshots/name.png (git-ignored).

Mark browser tests with `@pytest.mark.browser`.
"""
from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from config import TestConfig
from portal import create_app
from portal.db import make_engine
from portal.domain import members, passwords, points
from portal.domain.ledger import Reason
from portal.domain.models import metadata
from portal.extensions import db
from tests import factories
from tests.conftest import fresh_database_url

SCREENSHOTS = Path(__file__).parent / "screenshots"
STAFF_PASSWORD = "correct-horse-9"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "headless": True,
            "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "locale": "en-GB"}


@pytest.fixture
def page(page):
    # Fail in seconds, not after Playwright's default 30 s.
    page.set_default_timeout(10_000)
    return page


# --- the live site ------------------------------------------------------------------------

@dataclass
class BrowserSite:
    app: object
    engine: object
    url: str


def _db_binding():
    return db.engine, db.session_factory.kw.get("bind"), db.session_factory.kw.get("join_transaction_mode")


def _restore_db_binding(binding) -> None:
    engine, bind, mode = binding
    db.session.remove()
    db.engine = engine
    db.session_factory.configure(bind=bind, join_transaction_mode=mode or "conditional_savepoint")


@pytest.fixture(scope="session")
def browser_site(backend, tmp_path_factory):
    """The app on a fresh database of the backend, served on 127.0.0.1 in a daemon thread."""
    url = fresh_database_url(backend, tmp_path_factory.mktemp("browser"),
                             f"portal_browser_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()

    class Config(TestConfig):
        DATABASE_URL = url

    # `db` is one object for every app in the process: create_app() rebinds it,
    # so put back what other tests use, and bind to this site only per test (live_url).
    before = _db_binding()
    app = create_app(Config)
    site_engine = db.engine
    _restore_db_binding(before)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-site", daemon=True)
    thread.start()
    site_url = f"http://127.0.0.1:{server.server_port}"
    app.config["PORTAL_BASE_URL"] = site_url  # mailed links lead the browser back to this server
    yield BrowserSite(app=app, engine=site_engine, url=site_url)
    server.shutdown()
    thread.join(5)
    site_engine.dispose()


@pytest.fixture
def live_url(browser_site):
    """Base URL of the live site, bound to its database for the duration of the test."""
    before = _db_binding()
    db.session.remove()
    db.engine = browser_site.engine
    db.session_factory.configure(bind=browser_site.engine, join_transaction_mode="conditional_savepoint")
    yield browser_site.url
    _restore_db_binding(before)


# --- seeded data ----------------------------------------------------------------------------

@dataclass
class Demo:
    org: factories.OrgBundle
    staff: object
    member: object
    staff_password: str = STAFF_PASSWORD


class Seed:
    """Committed test data in the live site's database (`db` is bound to it by `live_url`).
    Returned objects are detached but keep their loaded attributes (no expiry on commit)."""

    @contextmanager
    def session(self):
        """One unit of work, `db.transaction()`; the session is closed after it, so nothing goes stale."""
        try:
            with db.transaction() as session:
                yield session
        finally:
            db.session.remove()

    def org(self, name: str = "Browser Org") -> factories.OrgBundle:
        with self.session() as session:
            return factories.make_org(session, name)

    def staff(self, bundle, roles=("admin",), email: str | None = None, password: str = STAFF_PASSWORD, **kwargs):
        with self.session() as session:
            return factories.make_staff(session, bundle, roles=roles, email=email, password=password, **kwargs)

    def member(self, bundle, password: str | None = None, **profile):
        """A member; with `password`, one who can sign in to the member portal."""
        with self.session() as session:
            member = factories.make_member(session, bundle, **profile)
            if password is not None:
                member.password_hash = passwords.hash_password(password)
            return member

    def points(self, bundle, member, amount: int, reason: str = "Welcome bonus", tier_points: bool = False):
        with self.session() as session:
            target = members.get_member(session, bundle.id, member.id)
            account_id = bundle.program.tier_points_account_id if tier_points else None
            return points.mint_to_member(session, target, amount, actor=bundle.actor,
                                         reason=Reason(description=reason, tags=["seed"]), account_id=account_id)

    def tiers(self, bundle):
        with self.session() as session:
            return factories.make_tiers(session, bundle)

    def demo(self, points_balance: int = 120, **profile) -> Demo:
        """An organisation with tiers, an admin staff user and one member holding points."""
        bundle = self.org()
        self.tiers(bundle)
        staff_user = self.staff(bundle)
        member = self.member(bundle, **profile)
        if points_balance:
            self.points(bundle, member, points_balance)
        return Demo(org=bundle, staff=staff_user, member=member)


@pytest.fixture
def seed(live_url):
    return Seed()


def sign_in_to_console(page, live_url: str, email: str, password: str = STAFF_PASSWORD) -> None:
    """Sign `email` in through the console's login form."""
    page.goto(f"{live_url}/console/login")
    fill_and_press(page, {"Email": email, "Password": password}, "Sign in")


def fill_and_press(page, fields: dict[str, str], button: str) -> None:
    """Fill in the fields found by their labels, in order, then press the button named `button`."""
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name=button).click()


# --- screenshots -----------------------------------------------------------------------------

@pytest.fixture
def screenshot():
    """screenshot(page, "console-dashboard") -> Path of a full-page PNG under tests/browser/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
