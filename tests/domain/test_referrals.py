"""Referral programmes: codes, signup with a code, self-referral, caps, qualifying once, reports."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.domain import earning, enrolment, members, missions, orders, referrals
from portal.domain.errors import DuplicateValue, ValidationFailed
from portal.domain.outbox import OutboxEvent
from portal.domain.ledger import LedgerTransaction
from portal.domain.members import Member
from portal.domain.orders import ItemInput, OrderInput
from portal.domain.referrals import Referral
from tests import factories

from .conftest import fails_cleanly, row_counts

UTC = dt.timezone.utc


def balance(session, org, member) -> int:
    wallet = factories.wallet_of(session, org, member)
    session.refresh(wallet)
    return wallet.balance


def program(session, org, **fields):
    fields.setdefault("referrer_points", 100)
    fields.setdefault("referred_points", 50)
    return referrals.create_program(session, org.id, actor=org.actor, name=fields.pop("name", "Bring a friend"),
                                    **fields)


def join(session, org, code, *, device_id=None, **profile):
    """Sign up through enrolment, the path the API, portal and signup forms share."""
    n = len(session.scalars(select(Member.id)).all())
    profile.setdefault("email", f"friend{n}-{org.id}@example.com")
    profile.setdefault("givenName", "Frida")
    profile.setdefault("familyName", "Schmidt")
    member, _ = enrolment.enrol_member(session, org.id, actor=org.actor, profile=profile, referral_code=code,
                                      device_id=device_id)
    return member


def buy(session, org, member, external_id, total="20.00"):
    return orders.record_order(session, member, OrderInput(
        external_id=external_id, status="confirmed", total=Decimal(total),
        items=[ItemInput(sku="A", quantity=1, unit_price=Decimal(total))]), actor=org.actor)


def referral_of(session, member) -> Referral:
    found = referrals.referral_of(session, member)
    session.refresh(found)
    return found


@pytest.fixture
def alice(session, org):
    return factories.make_member(session, org, email="alice@example.com", givenName="Alice", familyName="Adams")


# --- codes --------------------------------------------------------------------------------------------

def test_generated_codes_use_the_unambiguous_alphabet_and_custom_codes_are_unique(session, org, other_org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    assert len(code.code) == referrals.CODE_LENGTH
    assert set(code.code) <= set(members.CODE_ALPHABET) and not set(code.code) & set("01IOL")
    assert code.share_path == f"/join/{code.code}"
    mine = referrals.create_code(session, rp, alice, actor=org.actor, code=" alice-2026 ")
    assert mine.code == "ALICE-2026"
    with fails_cleanly(session, DuplicateValue) as info:
        referrals.create_code(session, rp, alice, actor=org.actor, code="Alice-2026")
    assert info.value.field == "codes"
    # Another organisation may use the same text.
    other_rp = program(session, other_org)
    stranger = factories.make_member(session, other_org)
    assert referrals.create_code(session, other_rp, stranger, actor=other_org.actor, code="ALICE-2026").id


def test_ensure_code_returns_the_same_code(session, org, alice):
    program(session, org)
    first = referrals.ensure_member_code(session, alice, actor=org.actor)
    assert referrals.ensure_member_code(session, alice, actor=org.actor).id == first.id


# --- joining with a code ------------------------------------------------------------------------------------

def test_unknown_code_is_a_validation_error_on_referral_code_and_nothing_is_stored(session, org, alice):
    program(session, org)
    counts = row_counts(session)
    with fails_cleanly(session, ValidationFailed) as info:
        join(session, org, "NOPE2345", email="new@example.com")
    assert info.value.field == "referralCode"
    assert row_counts(session) == counts
    assert session.scalar(select(Member.id).where(Member.email == "new@example.com")) is None


def test_a_code_of_a_programme_that_is_not_running_is_refused(session, org, alice):
    rp = program(session, org, valid_to=dt.datetime(2020, 1, 1, tzinfo=UTC))
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    with fails_cleanly(session, ValidationFailed) as info:
        join(session, org, code.code)
    assert info.value.field == "referralCode"


def test_happy_path_first_purchase_rewards_both_once(session, org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code.lower(), givenName="Bob", familyName="Brown")
    referral = referral_of(session, bob)
    assert (referral.status, referral.referrer_id, referral.code_id) == ("pending", alice.id, code.id)
    assert balance(session, org, alice) == 0 and balance(session, org, bob) == 0

    result = buy(session, org, bob, "bob-1")
    [effect] = [e for e in result.evaluation.effects if e.type == "referral_completed"]
    assert effect.details["referrerPoints"] == 100 and effect.details["referredPoints"] == 50
    assert balance(session, org, alice) == 100 and balance(session, org, bob) == 50
    referral = referral_of(session, bob)
    assert referral.status == "completed" and referral.completed_at is not None
    tx = session.get(LedgerTransaction, referral.referrer_transaction_id)
    assert tx.amount == 100 and "referral" in tx.tags
    [emitted] = session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "referral-completed")).all()
    assert emitted.member_id == alice.id and emitted.payload["referredMemberId"] == bob.id

    # A second purchase (and a retry of the first) qualifies nothing more.
    buy(session, org, bob, "bob-2")
    buy(session, org, bob, "bob-1")
    assert balance(session, org, alice) == 100 and balance(session, org, bob) == 50
    assert session.get(referrals.ReferralCode, code.id).uses == 1


def test_signup_as_qualifying_event_completes_at_enrolment(session, org, alice):
    rp = program(session, org, event_type=earning.MEMBER_CREATED, referrer_points=30, referred_points=20)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    carol = join(session, org, code.code)
    assert referral_of(session, carol).status == "completed"
    assert balance(session, org, alice) == 30 and balance(session, org, carol) == 20


def test_a_member_is_referred_only_once(session, org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code)
    with fails_cleanly(session, ValidationFailed) as info:
        referrals.attach_referral(session, bob, code.code, actor=org.actor)
    assert info.value.field == "referralCode"


def test_completing_twice_pays_once(session, org, alice):
    """complete_referral trusts no status it read: only the conditional UPDATE's winner pays."""
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code)
    referral = referral_of(session, bob)
    first = referrals.complete_referral(session, referral, rp, actor=org.actor)
    second = referrals.complete_referral(session, referral, rp, actor=org.actor)
    assert first is not None and second is None
    assert balance(session, org, alice) == 100 and balance(session, org, bob) == 50


# --- self-referral ------------------------------------------------------------------------------------------

def test_own_code_earns_nothing(session, org, alice):
    rp = program(session, org, event_type=earning.MEMBER_CREATED)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    referral = referrals.attach_referral(session, alice, code.code, actor=org.actor)
    assert (referral.status, referral.reason) == ("rejected", "self-referral: own code")


def test_self_referral_by_email_earns_nothing(session, org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    alias = join(session, org, code.code, email="ALICE+second@example.com")
    referral = referral_of(session, alias)
    assert (referral.status, referral.reason) == ("rejected", "self-referral: same email")
    buy(session, org, alias, "alias-1")
    assert balance(session, org, alice) == 0 and balance(session, org, alias) == 0
    assert referral_of(session, alias).status == "rejected"


def test_self_referral_by_card_code_earns_nothing(session, org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    alice_card = members.card_code_of(session, alice.id)
    # The new account presents Alice's card at signup...
    newcomer = factories.make_member(session, org)
    referral = referrals.attach_referral(session, newcomer, code.code, actor=org.actor, card_code=alice_card.lower())
    assert (referral.status, referral.reason) == ("rejected", "self-referral: same card code")
    # ...or carries Alice's card code as another identifier.
    other = factories.make_member(session, org)
    members.add_identifier(session, other, "EXTERNALCODE", alice_card, actor=org.actor)
    referral = referrals.attach_referral(session, other, code.code, actor=org.actor)
    assert referral.reason == "self-referral: same card code"
    buy(session, org, other, "other-1")
    assert balance(session, org, alice) == 0


def test_self_referral_by_device_earns_nothing(session, org):
    rp = program(session, org)
    alice = factories.make_member(session, org, email="al@example.com")
    members.update_member(session, alice, actor=org.actor, custom_attributes={"deviceId": "phone-1"})
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    same_phone = join(session, org, code.code, device_id="phone-1")
    assert referral_of(session, same_phone).reason == "self-referral: same device"
    friend = join(session, org, code.code, device_id="phone-9")
    assert referral_of(session, friend).status == "pending"
    second_account = join(session, org, code.code, device_id="phone-9")
    assert referral_of(session, second_account).status == "rejected"
    assert "device" in referral_of(session, second_account).reason


# --- caps -------------------------------------------------------------------------------------------------

def test_cap_per_referrer_completes_with_zero_points_and_says_why(session, org, alice):
    rp = program(session, org, max_referrals_per_member=2)
    first_code = referrals.create_code(session, rp, alice, actor=org.actor)
    second_code = referrals.create_code(session, rp, alice, actor=org.actor)
    friends = [join(session, org, c.code) for c in (first_code, second_code, first_code)]
    for n, friend in enumerate(friends):
        buy(session, org, friend, f"cap-{n}")
    assert balance(session, org, alice) == 200
    statuses = [(r.status, r.referrer_points, r.referred_points, r.reason)
                for r in (referral_of(session, f) for f in friends)]
    assert statuses[:2] == [("completed", 100, 50, "")] * 2
    assert statuses[2] == ("completed", 0, 0, "referrer reached maxReferralsPerMember (2)")
    assert balance(session, org, friends[2]) == 0


def test_cap_per_code(session, org, alice):
    rp = program(session, org, max_uses_per_code=1)
    code_a = referrals.create_code(session, rp, alice, actor=org.actor)
    code_b = referrals.create_code(session, rp, alice, actor=org.actor)
    first, second, third = join(session, org, code_a.code), join(session, org, code_a.code), join(session, org,
                                                                                                  code_b.code)
    for n, friend in enumerate((first, second, third)):
        buy(session, org, friend, f"code-{n}")
    assert referral_of(session, first).referrer_points == 100
    assert (referral_of(session, second).referrer_points, referral_of(session, second).reason) == (
        0, "code reached maxUsesPerCode (1)")
    assert referral_of(session, third).referrer_points == 100
    assert balance(session, org, alice) == 200
    # The refused referral did not use up a slot of the per-referrer count.
    referrer = session.scalars(select(referrals.Referrer).where(referrals.Referrer.member_id == alice.id)).one()
    assert referrer.rewarded == 2


# --- what follows a completion --------------------------------------------------------------------------

def test_referral_completed_event_runs_the_engine_for_the_referrer(session, org, alice):
    rp = program(session, org)
    recruiter = missions.create_mission(session, org.id, actor=org.actor, name="Bring 2 friends",
                                        event_type=earning.REFERRAL_COMPLETED, goal_count=2, points_on_completion=500)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    for n in range(2):
        friend = join(session, org, code.code)
        result = buy(session, org, friend, f"r-{n}")
    [effect] = [e for e in result.evaluation.effects if e.type == "referral_completed"]
    assert "mission_completed" in [e["type"] for e in effect.details["referrerEffects"]]
    assert missions.progress_of(session, alice, recruiter).completions == 1
    assert balance(session, org, alice) == 2 * 100 + 500
    # The friend's own evaluation carries no referrer points.
    assert result.evaluation.points_awarded == 0


def test_simulating_the_first_purchase_shows_the_reward_and_writes_nothing(session, org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code)
    counts = row_counts(session)
    evaluation = orders.simulate(session, bob, OrderInput(external_id="sim", status="confirmed",
                                                          total=Decimal("10"), items=[]), actor=org.actor)
    [effect] = [e for e in evaluation.effects if e.type == "referral_completed"]
    assert effect.details["referrerPoints"] == 100
    assert row_counts(session) == counts
    assert referral_of(session, bob).status == "pending"


# --- reports --------------------------------------------------------------------------------------------

def test_report_lists_who_referred_whom(session, org, other_org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code, givenName="Bob")
    eve = join(session, org, code.code, email="alice+eve@example.com")
    buy(session, org, bob, "rep-1")
    # Another organisation's referrals stay out.
    other_rp = program(session, other_org)
    stranger = factories.make_member(session, other_org)
    other_code = referrals.create_code(session, other_rp, stranger, actor=other_org.actor)
    join(session, other_org, other_code.code)

    rows = session.execute(referrals.report_query(rp).order_by(Referral.id)).all()
    assert [(r.referrer_id, referred.id, c.code, r.status, r.referrer_points) for r, c, _, referred in rows] == [
        (alice.id, bob.id, code.code, "completed", 100), (alice.id, eve.id, code.code, "rejected", 0)]
    pending_only = session.execute(referrals.report_query(rp, status="rejected")).all()
    assert [row[3].id for row in pending_only] == [eve.id]


def test_referral_summary_for_the_member_portal(session, org, alice):
    rp = program(session, org)
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code, givenName="bob", familyName="smith")
    join(session, org, code.code, givenName="Clara", familyName="Jones")
    buy(session, org, bob, "sum-1")
    summary = referrals.referral_summary(session, alice)
    assert [(c.code, c.share_path, c.referrer_points) for c in summary.codes] == [
        (code.code, f"/join/{code.code}", 100)]
    assert [(f.name, f.status, f.points) for f in summary.friends] == [
        ("C*** J.", "pending", 0), ("B*** S.", "completed", 100)]
    assert summary.points_earned == 100 and summary.friends_completed == 1
    # Nobody else's friends or codes.
    assert referrals.referral_summary(session, bob).friends == []
