"""Nobody can lock anybody out: failed sign-ins are throttled per account and address together,
and an account under attack slows down instead of locking its owner out (RELIABILITY: Access).

Two loopback source addresses stand for the attacker (127.0.0.1) and the owner (127.0.0.2).
"""
from __future__ import annotations

import pytest

from portal.domain import staff, throttle

from .console_helpers import Console
from .member_helpers import PASSWORD, fresh_client, make_member, member, portal  # noqa: F401

ATTACKER, OWNER = "127.0.0.1", "127.0.0.2"
WRONG = "not the password 1"


def failures(session, scope, key):
    return throttle.failures(session, scope, key, throttle.HOUR)


@pytest.fixture
def console_at(app):
    """console_at(address) -> a console in its own browser, every request from that address."""
    def make(address):
        console = Console(fresh_client(app))
        console.client.environ_base["REMOTE_ADDR"] = address
        return console
    return make


def test_a_hundred_wrong_staff_passwords_from_one_address_do_not_lock_the_owner_out(console_at, admin, session):
    attacker, owner = console_at(ATTACKER), console_at(OWNER)
    answers = [attacker.login(admin.email, WRONG).status_code for _ in range(100)]
    limit = throttle.LIMITS["login-account-address"].attempts
    assert answers == [200] * limit + [429] * (100 - limit)
    # The owner, from another address, with the right password.
    assert owner.login(admin.email).status_code == 302
    assert owner.get("/console/").status_code == 200
    # The attacking address stays refused for this account, even with the right password.
    refused = attacker.login(admin.email)
    assert refused.status_code == 429 and attacker.get("/console/").status_code == 302
    assert failures(session, staff.LOGIN_SCOPES.pair, f"{admin.email}\x1f{ATTACKER}") == limit


def test_a_hundred_wrong_member_passwords_from_one_address_do_not_lock_the_owner_out(app, portal, member):
    attacker, owner = portal, type(portal)(fresh_client(app), portal.org)
    answers = [attacker.login(member.email, "wrong password here", address=ATTACKER).status_code
               for _ in range(100)]
    limit = throttle.LIMITS["login-account-address"].attempts
    assert answers == [422] * limit + [429] * (100 - limit)
    response = owner.login(member.email, address=OWNER)
    assert response.status_code == 302 and response.location == "/wallet"
    assert attacker.login(member.email, address=ATTACKER).status_code == 429


def test_an_account_under_attack_from_many_addresses_slows_down_but_lets_its_owner_in(console_at, admin,
                                                                                       monkeypatch):
    monkeypatch.setitem(throttle.LIMITS, "login-account-slowdown", throttle.Limit(5, throttle.MINUTE))
    for n in range(5):  # five addresses, one failure each: the account is now hot
        assert console_at(f"198.51.100.{n}").login(admin.email, WRONG).status_code == 200
    # An address that already failed for this account waits, even with the right password ...
    assert console_at("198.51.100.0").login(admin.email).status_code == 429
    assert console_at("198.51.100.1").login(admin.email, WRONG).status_code == 429
    # ... a new address may still try, and the owner gets in.
    assert console_at("198.51.100.77").login(admin.email, WRONG).status_code == 200
    assert console_at(OWNER).login(admin.email).status_code == 302


def test_refusals_do_not_count_and_a_success_forgets_only_its_own_address(console_at, admin, session,
                                                                         monkeypatch):
    monkeypatch.setitem(throttle.LIMITS, "login-account-address", throttle.Limit(3, throttle.HOUR))
    attacker, owner = console_at(ATTACKER), console_at(OWNER)
    for _ in range(5):
        attacker.login(admin.email, WRONG)
    owner.login(admin.email, WRONG)
    assert owner.login(admin.email).status_code == 302
    assert failures(session, staff.LOGIN_SCOPES.pair, f"{admin.email}\x1f{ATTACKER}") == 3
    assert failures(session, staff.LOGIN_SCOPES.pair, f"{admin.email}\x1f{OWNER}") == 0
    assert attacker.login(admin.email).status_code == 429
