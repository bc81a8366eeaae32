"""The OpenAPI document and the browsable docs, and schemathesis over the API in process.

The fuzz run sends generated requests with an admin bearer token to every
operation of /api/v1/openapi.json, and checks that none answers 5xx and that
every response conforms to the document. Path ids are this organisation's real
ids for about half of the cases, so the handlers past the 404 get exercised too.
FUZZ_EXAMPLES sets the examples per operation (default 5: some 140 operations
on two databases must stay within a few minutes).
"""
from __future__ import annotations

import os
import re
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance, unsupported_method
from sqlalchemy import select

import portal.domain.models  # noqa: F401  (every domain module, for DOMAIN_422_TYPES)
from portal.api.core import registry
from portal.api.openapi import build_document
from portal.domain.errors import ValidationFailed
from portal.domain import campaigns, coupons, earning, missions, referrals, signup_forms, webhooks
from portal.domain.coupons import CouponCode
from portal.domain.ledger import LedgerTransaction
from portal.domain.staff import ApiKey
from portal.extensions import db

from . import factories

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))


def test_the_document_is_openapi_3_1_with_every_route(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    registered = {("/api/v1" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", spec.rule), spec.method) for spec in registry}
    assert registered and registered == documented
    # Every route the app serves under /api/v1 is in the registry (nothing bypasses @endpoint).
    app_rules = {("/api/v1" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):]), method)
                 for rule in client.application.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
                 for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert app_rules - {("/api/v1/openapi.json", "GET")} <= documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["operationId"] and op["summary"] and op["responses"], (path, method)
            names = set(re.findall(r"{(\w+)}", path))
            assert names == {p["name"] for p in op["parameters"] if p["in"] == "path"}, (path, method)
            if "security" in op:
                assert "401" in op["responses"] and "403" in op["responses"]
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_the_foundation_routes_are_documented(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    org = "/api/v1/organizations/{organizationId}"
    for path, method in [("/members", "post"), ("/members", "get"), ("/members/{memberId}", "patch"),
                         ("/members/batch", "post"), ("/members/lookup", "get"), ("/search", "get"),
                         ("/loyalty-members/{loyaltyMemberId}/mint", "post"),
                         ("/loyalty-members/{loyaltyMemberId}/burn", "post"), ("/members/{memberId}/wallet", "get"),
                         ("/ledgers/{ledgerId}/accounts/{ledgerAccountId}/transactions", "post"),
                         ("/ledgers/{ledgerId}/transaction-sets", "post"),
                         ("/ledgers/{ledgerId}/accounts/{ledgerAccountId}/capture", "post"),
                         ("/loyalty-programs/{loyaltyProgramId}/tiers", "post"),
                         ("/members/{memberId}/loyalty-programs/{loyaltyProgramId}/tier", "put")]:
        assert method in paths[org + path], (path, method)
    mint = paths[org + "/loyalty-members/{loyaltyMemberId}/mint"]["post"]
    assert "Idempotent-Replayed" in mint["responses"]["201"]["headers"]
    assert set(mint["responses"]) >= {"201", "400", "401", "403", "404", "409", "413", "415", "422"}


def test_docs_page_uses_only_vendored_assets(client):
    r = client.get("/api/docs")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    assert "swagger-ui-bundle.js" in page and "swagger-ui.css" in page
    assert "<script>" not in page  # no inline script: the CSP forbids it
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and len(served.data) > 100, asset
        assert b"//unpkg.com" not in served.data and b"//cdn." not in served.data
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


# --- schemathesis --------------------------------------------------------------------------------

schema = schemathesis.openapi.from_dict(build_document())
# No database stores NUL characters in text; the API refuses them with 422 (tests/api/test_bad_input.py).
schema.config.generation.update(allow_x00=False)


def _rules(cls) -> set[str]:
    return {cls.code.replace("_", "-")}.union(*(_rules(sub) for sub in cls.__subclasses__()))


# The problem types of the domain's 422s: ValidationFailed and the rules named under it
# (portal.domain.models imports every domain module, so every rule is defined by now).
DOMAIN_422_TYPES = _rules(ValidationFailed)

REAL_IDS = ("memberId", "loyaltyMemberId", "ledgerId", "ledgerAccountId", "ledgerTransactionId",
            "loyaltyProgramId", "tierId", "apiKeyId", "portalId", "publicId", "webhookId", "deliveryId", "bookId",
            "codeId", "campaignId", "actionId", "missionId", "referralProgramId", "signupFormId")
TARGET: dict = {}  # the organisation under test, set by the fuzz_world fixture


@schemathesis.hook
def before_call(context, case, kwargs):
    """Aim each case at our organisation with our token. Done in this hook (not before case.call) so
    schemathesis re-checks whether a negative case is still invalid after the change."""
    if not TARGET:
        return
    ids = TARGET["ids"]
    path = case.path_parameters
    if path is not None and "organizationId" in path:
        path["organizationId"] = ids["organizationId"]
    for name in REAL_IDS:
        # About half of the cases go to real objects, chosen from the generated value so that it replays.
        if path is not None and name in path and zlib.crc32(repr(path[name]).encode()) % 2 == 0:
            path[name] = ids[name]


@schema.auth(refresh_interval=None)
class AdminToken:
    """The organisation's admin API key; schemathesis also sends cases without it (expecting 401)."""

    def get(self, case, context):
        return TARGET.get("token")  # None while pytest collects

    def set(self, case, token, context):
        if token:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


@pytest.fixture
def fuzz_world(app, session, org):
    """Real objects to aim at; committed (to the test's savepoint) so a refused request cannot undo them."""
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 1000)
    tier = factories.make_tiers(session, org)[1]
    session.flush()
    tx_id = session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.organization_id == org.id))
    key_id = session.scalar(select(ApiKey.id).where(ApiKey.organization_id == org.id))
    partner_app, _ = factories.make_partner_app(session, org)
    hook = webhooks.create_subscription(session, org.id, actor=org.actor, name="Fuzz", allow_private=False,
                                        url="https://hooks.fuzz.example/", event_types=["member-created"])
    delivery = webhooks.queue_test(session, hook, actor=org.actor)
    book = coupons.create_book(session, org.id, actor=org.actor, name="Fuzz coffee", type=coupons.REWARD,
                               publishing_status=coupons.PUBLISHED)
    coupons.import_codes(session, book, ["FUZZ-CODE"], actor=org.actor)
    code_id = session.scalar(select(CouponCode.id).where(CouponCode.book_id == book.id))
    campaign = campaigns.create_campaign(session, org.id, code="FUZZ", name="Fuzz", actor=org.actor)
    action = campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                                  effects=[{"type": "award_points", "mode": "fixed", "points": 1}])
    mission = missions.create_mission(session, org.id, actor=org.actor, name="Fuzz stamps", goal_count=2,
                                      event_type=earning.PURCHASE_CONFIRMED)
    referral_program = referrals.create_program(session, org.id, actor=org.actor, name="Fuzz friends")
    form = signup_forms.create_form(session, org.id, actor=org.actor, name="Fuzz form", purpose="loyalty_card",
                                    consents=[{"key": "terms", "text": "Rules", "required": True}])
    session.flush()
    TARGET.update(token=org.api_key, ids={
        "organizationId": org.id, "memberId": str(member.id), "loyaltyMemberId": member.loyalty_member_id,
        "ledgerId": org.program.ledger_id, "ledgerAccountId": org.program.points_account_id,
        "ledgerTransactionId": tx_id, "loyaltyProgramId": org.program.id, "tierId": tier.id, "apiKeyId": key_id,
        "portalId": partner_app.id, "publicId": partner_app.public_id, "webhookId": hook.id, "deliveryId": delivery.id,
        "bookId": book.id, "codeId": code_id, "campaignId": campaign.id, "actionId": action.id,
        "missionId": mission.id, "referralProgramId": referral_program.id, "signupFormId": form.id})
    session.commit()
    yield TARGET
    TARGET.clear()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_fuzz_the_api(case, app, fuzz_world):
    db.session.commit()  # keep the world: a refused request rolls the shared session back
    case.operation.schema.app = app  # the schema came from a dict: the checks' own probes go here too
    response = case.call(app=app)
    excluded = []
    if case.operation.path.endswith("/barcodes/batch"):
        # GET .../barcodes/batch is GET .../barcodes/{barcodeId} for the barcode "batch": Allow lists it rightly.
        excluded += [unsupported_method, allow_header_conformance]
    if response.status_code == 422 and response.json().get("type", "").rsplit("/", 1)[-1] in DOMAIN_422_TYPES:
        # A business rule the schema cannot state (an unknown referral code, a password of letters only,
        # neither wallet given): the domain refused it and named the field. Shape errors from the request
        # models are ".../invalid-field" and still count as the document promising too much.
        assert response.json()["errors"]
        excluded.append(positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded, transport_kwargs={"app": app})
