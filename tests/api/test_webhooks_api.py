"""The webhook routes: subscriptions with their secret shown once, roles, isolation, refused receiver
URLs as problem+json naming the field, the delivery log, a test event and redelivery."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain import jobs, webhooks
from portal.domain.audit import AuditEntry
from portal.domain.webhooks import WebhookSubscription
from tests import factories

from .conftest import problem

URL = "https://hooks.partner.example/portal"


def create(api, **fields):
    body = {"name": "CRM", "url": URL, "eventTypes": ["member-created", "coupon-code-used"], **fields}
    return api.post("/webhooks", json=body)


@pytest.fixture
def hook(api):
    r = create(api)
    assert r.status_code == 201, r.json
    return r.json["webhook"]


def test_create_shows_the_secret_once(api, session, hook):
    assert hook["type"] == "WebHook" and hook["name"] == "CRM" and hook["url"] == URL and hook["active"] is True
    assert hook["eventTypes"] == ["member-created", "coupon-code-used"]
    assert hook["secret"].startswith("whsec_") and hook["secretHint"] == "whsec_…" + hook["secret"][-4:]
    stored = session.get(WebhookSubscription, hook["id"])
    assert stored.secret == hook["secret"]
    got = api.get(f"/webhooks/{hook['id']}")
    assert got.status_code == 200 and got.json["webhook"]["secret"] is None
    assert got.json["webhook"]["secretHint"] == hook["secretHint"]
    listed = api.get("/webhooks").json
    assert listed["totalCount"] == 1 and listed["results"][0]["secret"] is None
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.target_type == "webhooksubscription",
                                                          AuditEntry.target_id == str(hook["id"]))) == "webhook.created"


def test_patch_changes_what_was_given_and_rotates_the_secret(api, hook):
    r = api.patch(f"/webhooks/{hook['id']}", json={"active": False, "eventTypes": ["member-tier-set"]})
    assert r.status_code == 200, r.json
    changed = r.json["webhook"]
    assert (changed["active"], changed["eventTypes"], changed["name"], changed["secret"]) == \
        (False, ["member-tier-set"], "CRM", None)
    assert api.get("/webhooks?active=false").json["totalCount"] == 1
    assert api.get("/webhooks?active=true").json["totalCount"] == 0
    rotated = api.patch(f"/webhooks/{hook['id']}", json={"rotateSecret": True}).json["webhook"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]


def test_delete_stops_and_hides_it(api, session, hook):
    r = api.request("DELETE", f"/webhooks/{hook['id']}")
    assert r.status_code == 204 and r.data == b""
    problem(api.get(f"/webhooks/{hook['id']}"), 404)
    problem(api.request("DELETE", f"/webhooks/{hook['id']}"), 404)
    assert api.get("/webhooks").json["totalCount"] == 0
    stored = session.get(WebhookSubscription, hook["id"])
    session.refresh(stored)
    assert stored.deleted_at is not None and stored.active is False


@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://10.0.0.8/hook", "private"),
    ("http://[fd00::1]/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("ftp://hooks.partner.example/", "http and https"),
    ("gopher://hooks.partner.example/", "http and https"),
    ("not a url", "without spaces"),
])
def test_refused_receivers_are_problems_naming_the_url(api, session, url, says):
    body = problem(create(api, url=url), 422, "url")
    assert says in body["errors"]["url"][0]
    assert session.scalars(select(WebhookSubscription)).first() is None


def test_the_setting_admits_a_loopback_receiver_and_refusals_still_apply_on_patch(api, app, monkeypatch, hook):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_URLS", True)
    r = create(api, url="http://127.0.0.1:9999/hook")
    assert r.status_code == 201 and r.json["webhook"]["url"] == "http://127.0.0.1:9999/hook"
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_URLS", False)
    problem(api.patch(f"/webhooks/{hook['id']}", json={"url": "http://192.168.1.1/"}), 422, "url")
    assert api.get(f"/webhooks/{hook['id']}").json["webhook"]["url"] == URL


@pytest.mark.parametrize("fields, field", [
    ({"eventTypes": []}, "eventTypes"),
    ({"eventTypes": ["member-exploded"]}, "eventTypes[0]"),
    ({"name": ""}, "name"),
    ({"secret": "whsec_mine"}, "secret"),
    ({"organizationId": 99}, "organizationId"),
    ({"type": "Email"}, "type"),
])
def test_bad_fields_are_named(api, fields, field):
    problem(create(api, **fields), 422, field)


def test_roles_and_isolation(api, session, org, other_org, hook):
    reader = factories.make_key(session, org, ["webhooks:read"])
    member_staff = factories.make_key(session, org, ["members:read", "members:write"])
    assert api.get(f"/webhooks/{hook['id']}", token=reader).status_code == 200
    problem(api.post("/webhooks", json={"name": "x", "url": URL, "eventTypes": ["member-created"]}, token=reader),
            403, "role")
    problem(api.patch(f"/webhooks/{hook['id']}", json={"active": False}, token=reader), 403)
    problem(api.get("/webhooks", token=member_staff), 403)
    theirs = api.as_(other_org.api_key)
    theirs.org = other_org
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/deliveries"), ("POST", "/test")):
        body = {} if method == "PATCH" else None
        # the other organisation's token on this organisation's path, and on its own path with this id
        problem(api.request(method, f"/webhooks/{hook['id']}{path}", token=other_org.api_key, json=body), 404)
        problem(theirs.request(method, f"/webhooks/{hook['id']}{path}", json=body), 404)
    assert api.get(f"/webhooks/{hook['id']}").json["webhook"]["active"] is True


def test_the_delivery_log_a_test_event_and_redelivery(api, session, hook):
    member = api.post("/members", json={"profile": {"email": "ann@example.com"}}).json["member"]
    jobs.drain_outbox(session)
    r = api.get(f"/webhooks/{hook['id']}/deliveries")
    assert r.status_code == 200 and r.json["totalCount"] == 1
    [delivery] = r.json["results"]
    assert (delivery["eventType"], delivery["memberId"], delivery["status"], delivery["attemptCount"]) == \
        ("member-created", member["id"], "pending", 0)
    assert delivery["payload"]["id"] == delivery["eventId"] and delivery["payload"]["data"]["memberId"] == member["id"]
    assert delivery["attempts"] == [] and delivery["nextAttemptAt"]

    test = api.post(f"/webhooks/{hook['id']}/test")
    assert test.status_code == 202 and test.json["delivery"]["eventType"] == "webhook-test"
    log = api.get(f"/webhooks/{hook['id']}/deliveries?order=id,asc").json["results"]
    assert [d["eventType"] for d in log] == ["member-created", "webhook-test"]

    # one failed attempt, then staff send it again at once
    claim = webhooks.claim_next(session, now=webhooks.utcnow(), lease=webhooks.dt.timedelta(seconds=60))
    webhooks.record_outcome(session, claim, webhooks.AttemptResult(status_code=500, latency_ms=80,
                                                                   response_excerpt="boom"), now=webhooks.utcnow())
    failed = api.get(f"/webhooks/{hook['id']}/deliveries?status=pending&eventType=member-created").json["results"][0]
    assert [(a["number"], a["outcome"], a["statusCode"], a["latencyMs"], a["responseExcerpt"])
            for a in failed["attempts"]] == [(1, "failed", 500, 80, "boom")]
    again = api.post(f"/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver")
    assert again.status_code == 202 and again.json["delivery"]["eventId"] == failed["eventId"]
    assert again.json["delivery"]["nextAttemptAt"] < failed["nextAttemptAt"]  # now, not after the backoff
    problem(api.post(f"/webhooks/{hook['id']}/deliveries/999999/redeliver"), 404)
    problem(api.get(f"/webhooks/{hook['id']}/deliveries?status=lost"), 422, "status")
