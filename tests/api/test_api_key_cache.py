"""API keys are resolved from a per-process cache: no api_keys query on a repeated request, a key
revoked elsewhere stops working within API_KEY_CACHE_SECONDS (5 s), and at once where it was revoked.
"Elsewhere" is a plain UPDATE (what another process's commit looks like from here) and, in the live test,
a real second process revoking through the domain while this one's live server keeps its cache."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

from portal.domain.api_key_cache import ApiKeyCache
from portal.domain.base import utcnow
from portal.domain.staff import ApiKey
from portal.extensions import db

from .. import factories
from ..statements import counted
from .conftest import problem


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(app, monkeypatch):
    """This app's key cache, on a clock the test moves."""
    clock = Clock()
    monkeypatch.setitem(app.extensions, "api_key_cache", ApiKeyCache(ttl=5.0, clock=clock))
    return clock


@pytest.fixture
def world_key(session, org):
    """A second key of the organisation, reading members only."""
    return factories.make_key(session, org, ["members:read"])


def _key_id(session, org) -> int:
    return session.scalar(select(ApiKey.id).where(ApiKey.organization_id == org.id))


def test_a_known_key_costs_no_query_until_the_bound(api, engine, clock):
    assert api.get("/members").status_code == 200
    with counted(engine) as statements:
        assert api.get("/members").status_code == 200
    assert statements.touching("api_keys") == []
    clock.now += 5.0
    with counted(engine) as statements:
        assert api.get("/members").status_code == 200
    assert len(statements.touching("api_keys")) == 1  # read again once the bound has passed


def test_a_key_revoked_by_another_process_stops_working_within_the_bound(api, session, org, clock):
    assert api.get("/members").status_code == 200
    # Another process's revocation reaches this one only through the database: a plain UPDATE, no ORM event.
    session.execute(update(ApiKey).where(ApiKey.id == _key_id(session, org)).values(revoked_at=utcnow()))
    clock.now += 4.9
    assert api.get("/members").status_code == 200  # still trusted inside the bound
    clock.now += 0.1
    problem(api.get("/members"), 401, "Authorization")
    clock.now += 60
    problem(api.get("/members"), 401, "Authorization")  # a revoked key is never remembered


def test_a_key_revoked_in_this_process_stops_working_at_once(api, session, org, world_key, clock):
    assert api.as_(world_key).get("/members").status_code == 200
    key_id = session.scalar(select(ApiKey.id).where(ApiKey.organization_id == org.id, ApiKey.name == "limited"))
    assert api.post(f"/api-keys/{key_id}/revoke").status_code == 200
    problem(api.as_(world_key).get("/members"), 401, "Authorization")


def test_a_new_key_works_at_once_and_a_wrong_secret_is_never_cached(api, session, org, clock):
    assert api.get("/members").status_code == 200
    prefix = api.token.split("_")[1]
    forged = f"pk_{prefix}_not-the-secret"
    for _ in range(2):
        problem(api.as_(forged).get("/members"), 401, "Authorization")
    created = api.post("/api-keys", json={"name": "fresh", "roles": ["members:read"]})
    assert created.status_code == 201
    assert api.as_(created.json["apiKey"]["apiKey"]).get("/members").status_code == 200


def test_a_zero_bound_reads_the_key_every_time(api, engine, app, monkeypatch):
    monkeypatch.setitem(app.extensions, "api_key_cache", ApiKeyCache(ttl=0))
    for _ in range(2):
        with counted(engine) as statements:
            assert api.get("/members").status_code == 200
        assert len(statements.touching("api_keys")) == 1



REVOKE_ELSEWHERE = """
import sys
from portal import create_app
from portal.domain import staff
from portal.domain.actors import system_actor
from portal.extensions import db

app = create_app()
with app.app_context(), db.transaction() as session:
    organization_id, key_id = int(sys.argv[1]), int(sys.argv[2])
    staff.revoke_api_key(session, organization_id, key_id, actor=system_actor(organization_id, "another process"))
"""


@pytest.mark.live
def test_a_key_revoked_in_another_process_stops_working_here_within_the_bound(live_app, live_server, monkeypatch):
    clock = Clock()
    monkeypatch.setitem(live_app.extensions, "api_key_cache", ApiKeyCache(ttl=5.0, clock=clock))
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session)
            key_id = _key_id(session, org)
        db.session.remove()
    url = f"{live_server.url}/api/v1/organizations/{org.id}/members"
    headers = {"Authorization": f"Bearer {org.api_key}"}
    assert requests.get(url, headers=headers, timeout=60).status_code == 200
    env = {**os.environ, "DATABASE_URL": live_app.config["DATABASE_URL"], "SECRET_KEY": "another-process"}
    done = subprocess.run([sys.executable, "-c", REVOKE_ELSEWHERE, str(org.id), str(key_id)], env=env,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert requests.get(url, headers=headers, timeout=60).status_code == 200  # this process has not looked yet
    clock.now += 5.0
    refused = requests.get(url, headers=headers, timeout=60)
    assert refused.status_code == 401 and refused.json()["errors"]["Authorization"]
