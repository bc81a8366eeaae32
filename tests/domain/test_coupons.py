"""Coupon rules without HTTP: books, codes, assign, use, revert, limits, points, activation."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select, text

from portal.domain import coupons, ledger, throttle
from portal.domain.audit import AuditEntry
from portal.domain.errors import AccountNotActive, AlreadyResolved, IdempotencyKeyReused, ValidationFailed
from portal.domain.outbox import OutboxEvent
from portal.domain.members import CODE_ALPHABET, update_member
from portal.domain.throttle import TooManyAttempts
from portal.domain.tiers import set_tier
from tests.factories import count, give_points, make_book, make_member, make_tiers, wallet_of

from .conftest import fails_cleanly


NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)


def usages_of(session, member, kind=None):
    stmt = select(coupons.CouponUsage).where(coupons.CouponUsage.member_id == member.id)
    if kind:
        stmt = stmt.where(coupons.CouponUsage.kind == kind)
    return list(session.scalars(stmt.order_by(coupons.CouponUsage.id)))


# --- books -------------------------------------------------------------------------------

def test_book_keeps_every_setting(session, org):
    tier_ids = [t.id for t in make_tiers(session, org)]
    book = make_book(session, org, type=coupons.DISCOUNT, discount_type="percentage", discount_amount=15,
                     valid_from=NOW, valid_to=NOW + dt.timedelta(days=30), max_assigned_per_member=2,
                     max_assigned_per_coupon=1, max_coupon_count=100, assignment_required_points=10,
                     usage_required_points=5, activatable=True, tiers=[str(tier_ids[1])], audience_keys=["vip"],
                     tags=["coffee"], external_reference="POS-15", external_id="ext-1",
                     i18n={"de": {"title": "15 % Rabatt", "subtitle": "Auf alles", "description": "Lang",
                                  "bookingText": "Rabatt"}},
                     picture_url="https://img.example/c.png")
    session.expire_all()
    book = coupons.get_book(session, org.id, book.id)
    assert (book.type, book.discount_type, book.discount_amount) == ("DISCOUNT", "percentage", 15)
    assert book.valid_to == NOW + dt.timedelta(days=30)
    assert book.tiers == [str(tier_ids[1])] and book.audience_keys == ["vip"] and book.tags == ["coffee"]
    assert coupons.texts(book, "de")["title"] == "15 % Rabatt"
    assert coupons.texts(book, "fr")["title"] == "15 % Rabatt"  # no French or English: any text beats none
    assert coupons.texts(make_book(session, org, name="Plain"), "de")["title"] == "Plain"
    assert coupons.coupon_value(book) == 15
    assert book.loyalty_program_id == org.program.id
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.target_type == "couponbook",
                                                          AuditEntry.target_id == str(book.id))) == "coupon_book.created"


@pytest.mark.parametrize("fields, field", [
    ({"type": "DISCOUNT", "discount_amount": 10}, "discountType"),
    ({"type": "DISCOUNT", "discount_type": "percentage", "discount_amount": 120}, "discountAmount"),
    ({"type": "DISCOUNT", "discount_type": "fixed"}, "discountAmount"),
    ({"type": "MULTIPLIER", "discount_amount": 1}, "discountAmount"),
    ({"type": "EXTRAPOINT", "discount_amount": 2.5}, "discountAmount"),
    ({"type": "BOGUS"}, "type"),
    ({"max_coupon_count": 0}, "maxCouponCount"),
    ({"usage_required_points": -1}, "usageRequiredPoints"),
    ({"publishing_status": "live"}, "publishingStatus"),
    ({"valid_from": NOW, "valid_to": NOW}, "validToDate"),
    ({"tiers": ["999999"]}, "tiers[0]"),
    ({"i18n": {"de": {"headline": "x"}}}, "i18n.de.headline"),
])
def test_book_validation_names_the_field(session, org, fields, field):
    with pytest.raises(ValidationFailed) as info:
        make_book(session, org, **fields)
    assert info.value.field == field


def test_archived_book_is_final(session, org):
    book = make_book(session, org)
    coupons.set_publishing_status(session, book, coupons.ARCHIVED, actor=org.actor)
    with pytest.raises(coupons.CouponBookArchived):
        coupons.set_publishing_status(session, book, coupons.PUBLISHED, actor=org.actor)


def test_books_query_filters_by_tag_and_status(session, org):
    a = make_book(session, org, name="A", tags=["coffee", "summer"])
    make_book(session, org, name="B", tags=["coffees"], publishing_status=coupons.DRAFT)
    found = list(session.scalars(coupons.books_query(org.id, tags=["coffee"])))
    assert [b.id for b in found] == [a.id]
    assert [b.name for b in session.scalars(coupons.books_query(org.id, status="draft"))] == ["B"]


# --- codes -------------------------------------------------------------------------------

def test_generate_10000_codes_fast_unique_unambiguous(session, org):
    book = make_book(session, org)
    started = time.perf_counter()
    codes = coupons.generate_codes(session, book, 10_000, actor=org.actor, prefix="xmas-")
    elapsed = time.perf_counter() - started
    assert len(set(codes)) == 10_000
    assert count(session, coupons.CouponCode, coupons.CouponCode.book_id == book.id) == 10_000
    assert book.code_count == 10_000
    for code in codes[:200]:
        assert code.startswith("XMAS-")
        random_part = code[len("XMAS-"):]
        assert len(random_part) >= coupons.minimum_length(10_000)
        assert set(random_part) <= set(CODE_ALPHABET)
    assert not set("01ILO") & set("".join(c[5:] for c in codes))
    assert elapsed < 5, f"generating 10,000 codes took {elapsed:.2f}s"
    print(f"\n10,000 codes generated and inserted in {elapsed:.2f}s")


def test_code_length_must_make_guessing_hopeless(session, org):
    book = make_book(session, org)
    # 31^8 = 8.5e11: fine for a few codes, too short for 10,000 at one-in-a-billion odds.
    assert coupons.minimum_length(1) == 8
    assert coupons.minimum_length(10_000) > 8
    with pytest.raises(ValidationFailed) as info:
        coupons.generate_codes(session, book, 10_000, actor=org.actor, length=8)
    assert info.value.field == "generate.length"
    assert count(session, coupons.CouponCode) == 0


def test_import_codes_all_or_nothing_and_report(session, org):
    book = make_book(session, org)
    coupons.import_codes(session, book, ["SUMMER-1"], actor=org.actor)
    with pytest.raises(ValidationFailed) as info:
        coupons.import_codes(session, book, ["A-1", "bad code!", "A-1", "SUMMER-1", ""], actor=org.actor)
    assert set(info.value.errors) == {"codes[1]", "codes[2]", "codes[3]", "codes[4]"}
    assert count(session, coupons.CouponCode, coupons.CouponCode.book_id == book.id) == 1
    result = coupons.import_codes(session, book, ["A-1", "bad code!", "B-2"], actor=org.actor, skip_invalid=True)
    assert result.added == ["A-1", "B-2"] and [(e.index, e.code) for e in result.errors] == [(1, "bad code!")]
    assert book.code_count == 3


# --- assign and use ---------------------------------------------------------------------------

def test_assign_then_use_records_who_when_where(session, org):
    member = make_member(session, org)
    book = make_book(session, org)
    coupons.import_codes(session, book, ["CODE-1", "CODE-2"], actor=org.actor)
    place = coupons.Place(location_code="store-7", interaction_point="till-3")
    assigned = coupons.assign_coupons(session, member, book, actor=org.actor, place=place,
                                      system_unique_keys=["as-1"], now=NOW).usages
    assert len(assigned) == 1 and assigned[0].kind == "assign" and assigned[0].state == "assigned"
    code = session.get(coupons.CouponCode, assigned[0].code_id)
    assert code.code == "CODE-1" and code.assigned_count == 1
    used = coupons.use_coupon(session, member, book, actor=org.actor, code="code-1", system_unique_key="use-1",
                              place=place, now=NOW).usages
    assert [u.kind for u in used] == ["use"]  # the held coupon: no new assignment
    use = used[0]
    assert (use.assignment_id, use.location_code, use.interaction_point, use.system_unique_key) == \
        (assigned[0].id, "store-7", "till-3", "use-1")
    assert (use.actor_kind, use.actor_label) == ("system", "test") and use.created_at == NOW
    session.refresh(assigned[0])
    assert assigned[0].state == "used" and assigned[0].used_at == NOW
    session.refresh(book)
    assert (book.assigned_count, book.used_count) == (1, 1)
    types = list(session.scalars(select(OutboxEvent.event_type).where(OutboxEvent.member_id == member.id)
                                 .order_by(OutboxEvent.id)))
    assert types[-2:] == ["coupon-code-assigned", "coupon-code-used"]
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("coupon.%"))))
    assert actions == {"coupon.assigned", "coupon.used"}


def test_use_without_holding_assigns_on_the_spot(session, org):
    member = make_member(session, org)
    book = make_book(session, org)
    result = coupons.use_coupon(session, member, book, actor=org.actor, now=NOW)
    assert [u.kind for u in result.usages] == ["assign", "use"]
    assert result.usages[0].code_id is None  # codeless book


@pytest.mark.parametrize("status", [coupons.DRAFT, coupons.DISABLED, coupons.ARCHIVED])
def test_only_published_books_can_be_assigned_or_used(session, org, status):
    member = make_member(session, org)
    book = make_book(session, org, publishing_status=status)
    with fails_cleanly(session, coupons.CouponNotPublished) as info:
        coupons.assign_coupons(session, member, book, actor=org.actor)
    assert info.value.field == "publishingStatus"
    with fails_cleanly(session, coupons.CouponNotPublished):
        coupons.use_coupon(session, member, book, actor=org.actor)
    assert usages_of(session, member) == []


def test_validity_window_and_assignment_expiry(session, org):
    member = make_member(session, org)
    book = make_book(session, org, valid_from=NOW, valid_to=NOW + dt.timedelta(days=10))
    with fails_cleanly(session, coupons.CouponNotYetValid):
        coupons.use_coupon(session, member, book, actor=org.actor, now=NOW - dt.timedelta(hours=1))
    # Coupons may be handed out before the window opens.
    early = coupons.assign_coupons(session, member, book, actor=org.actor, now=NOW - dt.timedelta(hours=1),
                                   expires_at=NOW + dt.timedelta(days=1)).usages[0]
    with fails_cleanly(session, coupons.CouponExpired):
        coupons.use_coupon(session, member, book, actor=org.actor, now=NOW + dt.timedelta(days=11))
    with fails_cleanly(session, coupons.CouponExpired):
        coupons.assign_coupons(session, member, book, actor=org.actor, now=NOW + dt.timedelta(days=11))
    # The assignment's own expiry: past it, that coupon is dead and a fresh one is assigned instead.
    result = coupons.use_coupon(session, member, book, actor=org.actor, now=NOW + dt.timedelta(days=2))
    assert result.usages[0].kind == "assign" and result.usages[1].assignment_id != early.id
    with pytest.raises(ValidationFailed):
        coupons.assign_coupons(session, member, book, actor=org.actor, now=NOW, expires_at=NOW)


def test_naming_an_expired_own_code_says_expired(session, org):
    member = make_member(session, org)
    book = make_book(session, org)
    coupons.import_codes(session, book, ["OLD-1"], actor=org.actor)
    coupons.assign_coupons(session, member, book, actor=org.actor, now=NOW, expires_at=NOW + dt.timedelta(hours=1))
    with fails_cleanly(session, coupons.CouponExpired):
        coupons.use_coupon(session, member, book, actor=org.actor, code="OLD-1", now=NOW + dt.timedelta(hours=2))


def test_per_member_limit(session, org):
    member, other = make_member(session, org), make_member(session, org)
    book = make_book(session, org, max_assigned_per_member=1)
    coupons.use_coupon(session, member, book, actor=org.actor)
    with fails_cleanly(session, coupons.CouponLimitReached) as info:
        coupons.use_coupon(session, member, book, actor=org.actor)
    assert info.value.field == "maxAssignedPerMember"
    with fails_cleanly(session, coupons.CouponLimitReached):
        coupons.assign_coupons(session, member, book, actor=org.actor)
    coupons.use_coupon(session, other, book, actor=org.actor)  # another member is not affected


def test_global_limit(session, org):
    book = make_book(session, org, max_coupon_count=2)
    members = [make_member(session, org) for _ in range(3)]
    coupons.use_coupon(session, members[0], book, actor=org.actor)
    coupons.assign_coupons(session, members[1], book, actor=org.actor)
    with fails_cleanly(session, coupons.CouponLimitReached) as info:
        coupons.use_coupon(session, members[2], book, actor=org.actor)
    assert info.value.field == "maxCouponCount"
    session.refresh(book)
    assert book.assigned_count == 2 and book.used_count == 1


def test_single_use_code_and_shared_code(session, org):
    a, b = make_member(session, org), make_member(session, org)
    single = make_book(session, org, name="single")
    coupons.import_codes(session, single, ["ONE"], actor=org.actor)
    coupons.use_coupon(session, a, single, actor=org.actor, code="ONE")
    with fails_cleanly(session, coupons.CouponAlreadyUsed):
        coupons.use_coupon(session, a, single, actor=org.actor, code="ONE")
    with fails_cleanly(session, coupons.CouponCodeNotUsable):
        coupons.use_coupon(session, b, single, actor=org.actor, code="ONE")
    shared = make_book(session, org, name="shared", max_assigned_per_coupon=None)
    coupons.import_codes(session, shared, ["SUMMER"], actor=org.actor)
    for member in (a, b):
        coupons.use_coupon(session, member, shared, actor=org.actor, code="summer")
    code = session.scalars(select(coupons.CouponCode).where(coupons.CouponCode.book_id == shared.id)).one()
    session.refresh(code)
    assert (code.assigned_count, code.used_count) == (2, 2)


def test_pool_runs_dry(session, org):
    book = make_book(session, org)
    coupons.import_codes(session, book, ["P-1"], actor=org.actor)
    coupons.assign_coupons(session, make_member(session, org), book, actor=org.actor)
    assert coupons.book_counts(session, book) == {"assigned": 1, "used": 0, "codes": 1, "freeCodes": 0,
                                                  "remaining": None}
    with fails_cleanly(session, coupons.CouponLimitReached) as info:
        coupons.assign_coupons(session, make_member(session, org), book, actor=org.actor)
    assert info.value.field == "codes"


def test_strict_mode_all_or_none(session, org):
    member = make_member(session, org)
    book = make_book(session, org, max_assigned_per_member=2)
    coupons.import_codes(session, book, [f"S-{i}" for i in range(5)], actor=org.actor)
    with fails_cleanly(session, coupons.CouponLimitReached):
        coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=3, strict_mode=True)
    assert usages_of(session, member) == []
    result = coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=3,
                                    system_unique_keys=["k-a", "k-b", "k-c"])
    assert len(result.usages) == 2 and [u.system_unique_key for u in result.usages] == ["k-a", "k-b"]
    assert len({u.code_id for u in result.usages}) == 2
    account = coupons.find_account_coupon(session, member.id, book.id)
    session.refresh(account)
    assert account.assigned_count == 2


def test_points_are_burned_in_the_same_transaction(session, org):
    member = make_member(session, org)
    give_points(session, org, member, 150)
    book = make_book(session, org, assignment_required_points=20, usage_required_points=100)
    result = coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key="reward-1")
    assignment, use = result.usages
    assert (assignment.points_burned, use.points_burned) == (20, 100)
    assert wallet_of(session, org, member).balance == 30
    tx = session.get(ledger.LedgerTransaction, use.ledger_transaction_id)
    assert (tx.type, tx.amount, tx.external_id) == ("burn", 100, f"couponUsage:{use.id}")
    with fails_cleanly(session, coupons.InsufficientPoints) as info:
        coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key="reward-2")
    assert info.value.field == "usageRequiredPoints"
    assert wallet_of(session, org, member).balance == 30
    assert len(usages_of(session, member)) == 2


def test_insufficient_points_at_burn_rolls_back_the_assignment(session, org):
    member = make_member(session, org)
    give_points(session, org, member, 10)
    book = make_book(session, org, assignment_required_points=50)
    with fails_cleanly(session, coupons.InsufficientPoints) as info:
        coupons.assign_coupons(session, member, book, actor=org.actor)
    assert info.value.field == "assignmentRequiredPoints"
    session.refresh(book)
    assert book.assigned_count == 0 and usages_of(session, member) == []


def test_a_usage_undone_with_its_savepoint_leaves_nothing_behind_in_the_session(session, org):
    """Usage rows are written by Core statements and join the session as loaded objects. When a savepoint
    that wrote one is undone (the third coupon's points run out after its row was written), SQLite hands
    its id out again: the next row written under that id is what the session shows, not the undone one."""
    member = make_member(session, org)
    give_points(session, org, member, 100)
    book = make_book(session, org, assignment_required_points=40)
    result = coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=3)
    assert [u.points_burned for u in result.usages] == [40, 40]  # as many as the points allow
    other = make_book(session, org, name="Free tea")
    assignment, use = coupons.use_coupon(session, member, other, actor=org.actor).usages
    for usage, kind in ((assignment, coupons.ASSIGN), (use, coupons.USE)):
        assert session.get(coupons.CouponUsage, usage.id) is usage
        assert (usage.kind, usage.book_id, usage.points_burned) == (kind, other.id, 0)
    session.expire_all()
    assert [(u.book_id, u.kind) for u in usages_of(session, member)] == [
        (book.id, coupons.ASSIGN), (book.id, coupons.ASSIGN), (other.id, coupons.ASSIGN), (other.id, coupons.USE)]
    assert (assignment.kind, assignment.book_id) == (coupons.ASSIGN, other.id)  # read again from its row


def test_locked_account_gets_nothing(session, org):
    member = make_member(session, org)
    book = make_book(session, org)
    update_member(session, member, actor=org.actor, account_status="LOCKED")
    with fails_cleanly(session, AccountNotActive):
        coupons.assign_coupons(session, member, book, actor=org.actor)
    with fails_cleanly(session, AccountNotActive):
        coupons.use_coupon(session, member, book, actor=org.actor)


def test_activatable_coupon_needs_activation(session, org):
    member = make_member(session, org)
    book = make_book(session, org, activatable=True)
    coupons.assign_coupons(session, member, book, actor=org.actor)
    with fails_cleanly(session, coupons.CouponNotActivated) as info:
        coupons.use_coupon(session, member, book, actor=org.actor)
    assert info.value.field == "activated"
    account = coupons.set_activation(session, member, book, True, actor=org.actor, now=NOW)
    assert account.activated and account.last_activation_date == NOW
    coupons.use_coupon(session, member, book, actor=org.actor)
    plain = make_book(session, org, name="plain")
    with pytest.raises(coupons.CouponNotActivatable):
        coupons.set_activation(session, member, plain, True, actor=org.actor)


def test_tiers_allowed(session, org):
    bronze, silver, gold = make_tiers(session, org)
    member = make_member(session, org)
    book = make_book(session, org, tiers=[str(gold.id)])
    with fails_cleanly(session, coupons.CouponNotEligible) as info:
        coupons.assign_coupons(session, member, book, actor=org.actor)
    assert info.value.field == "tiers"
    set_tier(session, member.id, org.program, gold, actor=org.actor)
    assert len(coupons.assign_coupons(session, member, book, actor=org.actor).usages) == 1


def test_guessed_and_unusable_codes_read_the_same(session, org):
    owner, guesser = make_member(session, org), make_member(session, org)
    book = make_book(session, org)
    coupons.import_codes(session, book, ["REAL-CODE-1", "REAL-CODE-2"], actor=org.actor)
    coupons.assign_coupons(session, owner, book, actor=org.actor)        # takes REAL-CODE-1
    coupons.use_coupon(session, owner, book, actor=org.actor)
    coupons.assign_coupons(session, owner, book, actor=org.actor)        # takes REAL-CODE-2, unused
    answers = []
    for guess in ("NO-SUCH-CODE", "REAL-CODE-1", "REAL-CODE-2"):
        with fails_cleanly(session, coupons.CouponCodeNotUsable) as info:
            coupons.use_coupon(session, guesser, book, actor=org.actor, code=guess)
        answers.append((type(info.value), info.value.message, info.value.field, info.value.errors))
    assert answers[0] == answers[1] == answers[2]


def test_code_guessing_is_throttled_per_member(session, org):
    member = make_member(session, org)
    book = make_book(session, org)
    coupons.import_codes(session, book, ["REAL-1"], actor=org.actor)
    for _ in range(throttle.LIMITS["code-member"].attempts):
        coupons.note_code_failure(session, member, actor=org.actor)
    with fails_cleanly(session, TooManyAttempts):
        coupons.use_coupon(session, member, book, actor=org.actor, code="REAL-1")
    # Using without naming a code is not guessing.
    coupons.use_coupon(session, member, book, actor=org.actor)


# --- revert and idempotency -------------------------------------------------------------------

def test_revert_use_refunds_and_allows_a_new_use(session, org):
    member = make_member(session, org)
    give_points(session, org, member, 100)
    book = make_book(session, org, usage_required_points=100, max_assigned_per_member=1)
    assignment, use = coupons.use_coupon(session, member, book, actor=org.actor).usages
    assert wallet_of(session, org, member).balance == 0
    reverted = coupons.revert_usage(session, org.id, use.id, actor=org.actor).usages
    assert [u.id for u in reverted] == [use.id] and reverted[0].state == "reverted"
    assert wallet_of(session, org, member).balance == 100
    session.refresh(assignment)
    assert assignment.state == "assigned" and assignment.used_at is None
    with pytest.raises(AlreadyResolved):
        coupons.revert_usage(session, org.id, use.id, actor=org.actor)
    again = coupons.use_coupon(session, member, book, actor=org.actor).usages
    assert [u.kind for u in again] == ["use"] and again[0].assignment_id == assignment.id
    session.refresh(book)
    assert (book.assigned_count, book.used_count) == (1, 1)


def test_revert_assignment_reverts_its_use_and_frees_the_code(session, org):
    member, other = make_member(session, org), make_member(session, org)
    give_points(session, org, member, 30)
    give_points(session, org, other, 30)
    book = make_book(session, org, assignment_required_points=30)
    coupons.import_codes(session, book, ["ONLY"], actor=org.actor)
    assignment, use = coupons.use_coupon(session, member, book, actor=org.actor, code="ONLY").usages
    reverted = coupons.revert_usage(session, org.id, assignment.id, actor=org.actor).usages
    assert {u.id for u in reverted} == {assignment.id, use.id}
    assert wallet_of(session, org, member).balance == 30
    coupons.use_coupon(session, other, book, actor=org.actor, code="ONLY")  # the code is free again


def test_same_key_replays_and_different_body_is_refused(session, org):
    member = make_member(session, org)
    book = make_book(session, org)
    first = coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key="till-9-receipt-1")
    again = coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key="till-9-receipt-1")
    assert again.replayed and [u.id for u in again.usages] == [u.id for u in first.usages]
    assert len(usages_of(session, member, "use")) == 1
    with pytest.raises(IdempotencyKeyReused):
        coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key="till-9-receipt-1",
                           code="OTHER")


# --- reading ----------------------------------------------------------------------------------

def test_member_coupons_and_states(session, org):
    member = make_member(session, org)
    book = make_book(session, org, tags=["coffee"])
    coupons.import_codes(session, book, ["M-1", "M-2", "M-3"], actor=org.actor)
    coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=3, now=NOW)
    coupons.use_coupon(session, member, book, actor=org.actor, code="M-1", now=NOW)
    page = coupons.member_coupons(session, member, now=NOW)
    assert page.total == 3
    assert {(c.code, c.state) for c in page.items} == {("M-1", "used"), ("M-2", "available"), ("M-3", "available")}
    assert coupons.member_coupons(session, member, not_used_only=True, now=NOW).total == 2
    assert coupons.member_coupons(session, member, tags=["tea"], now=NOW).total == 0
    coupons.set_publishing_status(session, book, coupons.DISABLED, actor=org.actor)
    assert {c.state for c in coupons.member_coupons(session, member, not_used_only=True, now=NOW).items} == \
        {"unavailable"}
    assert coupons.member_coupon_counts(session, member) == {"amountAssigned": 3, "amountUsed": 1}


def test_offers_for_member_explain_refusals(session, org):
    member = make_member(session, org)
    give_points(session, org, member, 40)
    cheap = make_book(session, org, name="cheap", assignment_required_points=30, ranking_index=2)
    dear = make_book(session, org, name="dear", assignment_required_points=300, ranking_index=1)
    make_book(session, org, name="draft", publishing_status=coupons.DRAFT)
    gold_only = make_book(session, org, name="gold", tiers=[str(make_tiers(session, org)[2].id)])
    page = coupons.offers_for_member(session, member)
    assert [o.book.name for o in page.items] == ["cheap", "dear"]
    assert page.items[0].claimable and isinstance(page.items[1].refusal, coupons.InsufficientPoints)
    assert gold_only.id not in [o.book.id for o in page.items]
    coupons.claim_coupon(session, member, cheap, actor=org.actor)
    assert wallet_of(session, org, member).balance == 10
    assert coupons.assignment_refusal(session, member, dear).field == "assignmentRequiredPoints"


def test_account_coupon_id_is_stable_and_lists_held_books(session, org):
    member = make_member(session, org)
    book = make_book(session, org, max_assigned_per_member=3, max_coupon_count=10)
    expected = coupons.account_coupon_public_id(org.id, member.id, book.id)
    assert coupons.account_coupons_for_member(session, member) == []
    coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=2)
    coupons.use_coupon(session, member, book, actor=org.actor)
    [view] = coupons.account_coupons_for_member(session, member)
    assert view.account_coupon_id == expected == coupons.account_coupon_public_id(org.id, member.id, book.id)
    assert (view.redeem_count, view.assigned_count) == (1, 2)
    result = coupons.redeem_account_coupon(session, org.id, expected, actor=org.actor)
    assert [u.kind for u in result.usages] == ["use"]
    assert coupons.account_coupon_view(session, coupons.get_account_coupon(session, org.id, expected)).redeem_count \
        == 2


# --- purchases (earning engine) ---------------------------------------------------------------

def test_automatic_coupons_cannot_be_used_by_hand(session, org):
    member = make_member(session, org)
    for kind, amount in ((coupons.EXTRAPOINT, 50), (coupons.MULTIPLIER, 2)):
        book = make_book(session, org, name=kind, type=kind, discount_amount=amount)
        coupons.assign_coupons(session, member, book, actor=org.actor)
        with fails_cleanly(session, coupons.CouponManualUseNotAllowed) as info:
            coupons.use_coupon(session, member, book, actor=org.actor)
        assert info.value.field == "type"


def test_purchase_applies_extra_points_and_the_best_multiplier(session, org):
    member = make_member(session, org)
    extra = make_book(session, org, name="extra", type=coupons.EXTRAPOINT, discount_amount=50)
    double = make_book(session, org, name="double", type=coupons.MULTIPLIER, discount_amount=2)
    triple = make_book(session, org, name="triple", type=coupons.MULTIPLIER, discount_amount="1.5")
    big_only = make_book(session, org, name="big", type=coupons.EXTRAPOINT, discount_amount=500,
                         condition={"minTotal": 100})
    for book in (extra, double, triple, big_only):
        coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=1)
    coupons.assign_coupons(session, member, extra, actor=org.actor)  # a second extra: one per purchase
    purchase = coupons.Purchase(total=40, base_points=40, external_id="order-1")

    preview = coupons.apply_purchase_coupons(session, member, purchase, actor=org.actor, dry_run=True)
    assert (preview.extra_points, preview.multiplier) == (50, 2)
    assert preview.points_for(40) == 130 and all(a.usage_id is None for a in preview.applied)
    assert len(usages_of(session, member, "use")) == 0

    effects = coupons.apply_purchase_coupons(session, member, purchase, actor=org.actor)
    assert effects.points_for(40) == 130
    assert {a.book_id for a in effects.applied} == {extra.id, double.id}
    assert len(usages_of(session, member, "use")) == 2
    # The 1.5 multiplier was not used; the second extra-point coupon applies to the next purchase.
    nxt = coupons.apply_purchase_coupons(session, member, purchase, actor=org.actor)
    assert (nxt.extra_points, nxt.multiplier) == (50, 1.5)
    big = coupons.apply_purchase_coupons(session, member, coupons.Purchase(total=150), actor=org.actor,
                                         qualifies=lambda book, p: book.name == "big")
    assert [a.book_id for a in big.applied] == [big_only.id] and big.extra_points == 500


def test_purchase_skips_coupons_not_activated(session, org):
    member = make_member(session, org)
    book = make_book(session, org, type=coupons.MULTIPLIER, discount_amount=3, activatable=True)
    coupons.assign_coupons(session, member, book, actor=org.actor)
    assert coupons.apply_purchase_coupons(session, member, coupons.Purchase(total=10), actor=org.actor).applied == []
    coupons.set_activation(session, member, book, True, actor=org.actor)
    assert coupons.apply_purchase_coupons(session, member, coupons.Purchase(total=10),
                                          actor=org.actor).multiplier == 3


def test_condition_min_total_must_be_a_number(session, org):
    with pytest.raises(ValidationFailed) as info:
        make_book(session, org, type=coupons.EXTRAPOINT, discount_amount=5, condition={"minTotal": "lots"})
    assert info.value.field == "condition.minTotal"


def test_ids_beyond_64_bits_name_nothing(session, org):
    from portal.domain.errors import NotFound

    for call in (lambda: coupons.get_book(session, org.id, 2 ** 70), lambda: coupons.get_usage(session, org.id, -1)):
        with pytest.raises(NotFound):
            call()


def test_a_drawn_code_already_in_the_pool_is_drawn_again(session, org, monkeypatch):
    book = make_book(session, org)
    coupons.import_codes(session, book, ["TAKENTAKEN"], actor=org.actor)
    draws = iter([{"TAKENTAKEN", "FRESHCODE1"}, {"FRESHCODE2", "FRESHCODE3"}])
    monkeypatch.setattr(coupons.codes, "random_codes", lambda count, length, prefix="": next(draws))
    assert coupons.generate_codes(session, book, 2, actor=org.actor, length=10) == ["FRESHCODE2", "FRESHCODE3"]
    session.refresh(book)
    assert book.code_count == 3


def test_assign_named_codes(session, org):
    member, other = make_member(session, org), make_member(session, org)
    book = make_book(session, org, max_assigned_per_member=5)
    coupons.import_codes(session, book, ["N-1", "N-2", "N-3"], actor=org.actor)
    result = coupons.assign_coupons(session, member, book, actor=org.actor, codes=["n-2", "N-3"])
    assert [session.get(coupons.CouponCode, u.code_id).code for u in result.usages] == ["N-2", "N-3"]
    with fails_cleanly(session, coupons.CouponCodeNotUsable):
        coupons.assign_coupons(session, other, book, actor=org.actor, codes=["N-2"])
    with pytest.raises(ValidationFailed):
        coupons.assign_coupons(session, other, book, actor=org.actor, codes=["N-1", "N-1"])


def test_claim_voucher_code_finds_the_book_and_reads_the_same_on_every_refusal(session, org):
    member, other = make_member(session, org), make_member(session, org)
    paper = make_book(session, org, name="Paper voucher")
    ended = make_book(session, org, name="Ended", valid_to=NOW)
    coupons.import_codes(session, paper, ["PAPER-1", "PAPER-2"], actor=org.actor)
    coupons.import_codes(session, ended, ["ENDED-1"], actor=org.actor)
    result = coupons.claim_voucher_code(session, member, "paper-1", actor=org.actor)
    assert result.usages[0].book_id == paper.id and not result.replayed
    again = coupons.claim_voucher_code(session, member, "PAPER-1", actor=org.actor)
    assert again.replayed and again.usages[0].id == result.usages[0].id
    answers = set()
    for guess in ("PAPER-1", "ENDED-1", "NO-SUCH-1", ""):  # someone else's, an ended book's, unknown, empty
        with fails_cleanly(session, coupons.CouponCodeNotUsable) as info:
            coupons.claim_voucher_code(session, other, guess, actor=org.actor)
        answers.add((info.value.message, info.value.field))
    assert len(answers) == 1


def test_locking_a_coupon_row_puts_the_callers_lock_timeout_back(session, org):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the bounded wait is PostgreSQL's lock_timeout")
    member, book = make_member(session, org), make_book(session, org)
    session.execute(text("SET LOCAL lock_timeout = '7s'"))
    account = coupons.lock_account_coupon(session, member, book)
    assert (account.member_id, account.book_id) == (member.id, book.id)
    assert session.scalar(text("SHOW lock_timeout")) == "7s"  # the coupon's bound applied to this lock only
