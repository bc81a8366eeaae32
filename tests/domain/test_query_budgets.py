"""Query budgets of the hot write paths: the exact number of SQL statements each sends.

A regression (a query per item, a flush the database does not need, a savepoint) fails here instead of
waiting for the next benchmark. Each path runs as a request would: an empty identity map but for the member
the handler loaded, nothing remembered in the session. The numbers are the same on SQLite and PostgreSQL
but where a budget is a dict by database (PostgreSQL bounds its coupon lock waits).

Before issue 11 (same tests): mint 18, burn 17, batch of 20 mints 400, purchase with 20 campaigns 136
(79 before its awards were posted together and its campaigns kept per process), POS coupon redemption 37; a
named code's use (assigned and used at once) 35 SQLite, 37 PostgreSQL. Before the write path's Core statements:
mint 10, burn 9. Before what listens to an event was read in one statement and a purchase's two wallets in one:
purchase 28, POS redemption 26 / 28, code use 14 / 16; then, before the automatic coupons' usages went unread
when the member holds none, purchase 25; before the lock wait bound was put back by the locking statement
itself, POS redemption 26 and code use 14 on PostgreSQL. Before the debt check was folded into the
mint's account read, mint 9. Before the member's tier, the tier ladder and the open-debt check were folded into
the purchase's programme read, purchase 24; before its audit entries and events were written once each, 21;
before its items were inserted with the order on PostgreSQL, 17 there.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.domain import campaigns, coupons, ledger, orders, points
from portal.domain.audit import AuditEntry
from portal.domain.base import forget_memos
from portal.domain.ledger import LedgerTransaction, Reason
from portal.domain.members import Member
from portal.domain.outbox import OutboxEvent
from portal.domain.orders import ItemInput, OrderInput
from portal.domain.points import TransferRequest
from tests import factories
from tests.statements import counting

# The statements of a mint: account (with its programme, the member's wallet, the account's system wallets and
# whether the member owes points: every earning settles open debts, orders.settle_debts, which then asks nothing
# more when there are none), key, transaction, member balance, issuance shard, entries, outbox, audit. All writes
# are Core statements built once (no ORM flush), so each is also the same compiled statement every time.
MINT = 8
# A burn: the same, the burned wallet's shard instead of the issuance one, and no debts to settle.
BURN = 8
# A batch, whatever its size: accounts (with their ledgers, system wallets and the programme whose tier points each
# holds: the tier hook then asks nothing), wallets (locked, with their members' standing), keys, transactions,
# entries, balances, shards, outbox, audit. (12 before the members' standing came with the locked wallets and the
# accounts' ledgers, system wallets and tier programme with the accounts.)
BATCH = 9
# A purchase of 20 campaigns, 3 of which award points and tier points: the order (key, insert as confirmed:
# a new externalId needs no read first, then its items; on PostgreSQL both in one statement, a data-modifying WITH),
# the programme with its two accounts, whether the
# member owes points, the member's tier and the tier ladder in one statement (orders._program_with_accounts: the
# tier after is known unless it changed, tiers.known_tier; the promotion on tier points and the debts' settling
# ask nothing more), the member's automatic coupons (their books,
# locked first; none held, so their usages are not read: campaigns.use_purchase_coupons), what listens to the event in one statement (earning.listeners: the
# campaigns' ids and updated_at, no mission, no referral programme, so those two handlers read nothing; the
# process knows the campaigns and their actions: campaigns._listening_cache; 2 more statements when it does
# not); no balances or audiences (no rule asks); then the 6 awards (points and tier points) posted together
# (points.mint_to_members: both wallets in one statement and the tier points one created, transactions, entries,
# balances, shards, evaluation rows), the order's points; its audit entries (order.created, the 6 ledger.minted,
# order.confirmed) and outbox events (the order created, the 6 points events, the order confirmed) in one
# statement each at the end (row_buffer.together). No points paid: the programme's point value is not read.
PURCHASE_20_CAMPAIGNS = {"sqlite": 17, "postgresql": 16}
# A REWARD coupon redeemed at the till: the account coupon found by its public id, the member, the book, the
# coupon's key, the (member, book) row locked (created if new) in one statement, the held coupon, the member's
# and the book's use counts and the assignment moved to used (conditional UPDATEs), the use row, a burn
# (programme, account, wallets, transaction, balance, shard, entries, the use's points), its outbox event and
# audit entry, the coupon's outbox event and audit entry, the coupon-used event run through the earning
# engine (what listens to it, in one statement: none), the key's result. PostgreSQL also bounds the wait for
# the coupon row (COUPON_LOCK_WAIT_MS): the lock is taken under a lock_timeout one statement reads and sets,
# and the locking statement's RETURNING puts the caller's back (1 statement SQLite, one writer, does not need).
POS_REDEMPTION = {"sqlite": 24, "postgresql": 25}
# A named code of a pool used by a member who does not hold it (the bench's "coupon code use"): the key, the
# refused-code counts (member, key, organisation in one query), the (member, book) row created and locked in
# one statement (its count says the member holds none of the book, so their holding of the code is not looked
# up), then the member's, the book's and the code's counts, assigned and used at once, each limit decided by
# its conditional UPDATE (the code found by its text inside its UPDATE), the assignment (written as used) and
# the use row, the two outbox events in one statement, the two audit entries in one, the coupon-used event
# through the earning engine (what listens to it: campaigns, missions, referral programmes in one statement;
# none here), the key's result. PostgreSQL adds the lock wait bound (set; put back by the lock's statement).
CODE_USE = {"sqlite": 12, "postgresql": 13}


def as_a_request(session):
    """Start from what a request starts from: an empty identity map, nothing remembered."""
    session.flush()
    session.expunge_all()
    forget_memos(session)


def fresh(session, member):
    """The member again in an empty identity map, as a request's handler has it."""
    as_a_request(session)
    return session.get(Member, member.id)


@pytest.fixture
def member(session, org):
    someone = factories.make_member(session, org)
    factories.give_points(session, org, someone, 1000)
    return someone


def test_mint(session, org, member):
    member = fresh(session, member)
    with counting(session) as sent:
        movement = points.mint_to_member(session, member, 10, actor=org.actor, reason=Reason(system_unique_key="m-1"))
    assert len(sent) == MINT, str(sent)
    assert movement.transactions[0].amount == 10 and not movement.replayed
    assert factories.wallet_of(session, org, member).balance == 1010


def test_a_mint_to_a_member_who_owes_still_settles(session, org, member):
    debt = orders.PointsDebt(organization_id=org.id, member_id=member.id, ledger_account_id=org.points_account_id,
                             amount=30)
    session.add(debt)
    member = fresh(session, member)  # the debt is there, and nothing remembers the member
    with counting(session) as sent:
        points.mint_to_member(session, member, 10, actor=org.actor, reason=Reason(system_unique_key="m-owes"))
    assert session.get(orders.PointsDebt, debt.id).settled == 30  # paid from the wallet, the 10 minted in it
    assert factories.wallet_of(session, org, member).balance == 1000 + 10 - 30
    # then the debts (locked), the wallet read again, the settling burn (transaction, balance, shard, entries,
    # outbox) and the debt's settled points
    assert len(sent) == MINT + 8, str(sent)


def test_burn(session, org, member):
    member = fresh(session, member)
    with counting(session) as sent:
        points.burn_from_member(session, member, 10, actor=org.actor, reason=Reason(system_unique_key="b-1"))
    assert len(sent) == BURN, str(sent)
    assert factories.wallet_of(session, org, member).balance == 990


def test_a_replayed_mint_writes_nothing(session, org, member):
    points.mint_to_member(session, member, 10, actor=org.actor, reason=Reason(system_unique_key="m-1"))
    member = fresh(session, member)
    with counting(session) as sent:
        movement = points.mint_to_member(session, member, 10, actor=org.actor, reason=Reason(system_unique_key="m-1"))
    assert movement.replayed
    # account, the key's insert (which inserts nothing), its row, the transaction found by the key
    assert len(sent) == 4, str(sent)
    assert not [s for s in sent if s.startswith(("UPDATE", "DELETE"))]


def batch(session, org, size: int):
    wallets = [factories.wallet_of(session, org, factories.make_member(session, org)).id for _ in range(size)]
    as_a_request(session)
    requests = [TransferRequest(amount=5, ledger_account_id=org.points_account_id, to_wallet_id=w,
                                reason=Reason(system_unique_key=f"batch-{size}-{n}")) for n, w in enumerate(wallets)]
    with counting(session) as sent:
        processed, failed = points.post_batch(session, org.id, requests, actor=org.actor)
    assert (len(processed), failed) == (size, [])
    assert [tx.to_wallet_id for tx in processed] == wallets
    with counting(session) as after:  # what the response shows of them, known already
        owners = ledger.wallet_owners(session, wallets)
        states = ledger.transaction_states(session, processed)
    assert (len(after), set(states.values())) == (0, {"posted"}) and None not in owners.values(), str(after)
    return sent


def test_batch_of_20_mints(session, org):
    sent = batch(session, org, 20)
    assert len(sent) == BATCH, str(sent)


def test_a_batch_costs_the_same_whatever_its_size(session, org):
    assert len(batch(session, org, 3)) == len(batch(session, org, 20)) == BATCH


def test_purchase_with_20_campaigns(session, org, member, backend):
    for n in range(20):
        campaign = campaigns.create_campaign(session, org.id, code=f"C{n}", name=f"Campaign {n}", actor=org.actor)
        rule = "order.total > 0" if n < 3 else f"order.total > {10_000 + n}"
        campaigns.add_action(session, campaign, actor=org.actor, rules_text=[rule],
                             effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    def purchase(someone, n: int):
        someone = fresh(session, someone)
        data = OrderInput(external_id=f"R-{n}", status="confirmed", total=Decimal(20), location_code="BER-01",
                          items=[ItemInput(sku="LATTE", quantity=1, unit_price=Decimal(20),
                                           product_category_code="coffee")], system_unique_key=f"till-1-r-{n}")
        with counting(session) as sent:
            result = orders.record_order(session, someone, data, actor=org.actor)
        assert result.evaluation.points_awarded == 60
        return sent

    # The first purchase reads the 20 campaigns and all their actions, one query each (not one per campaign).
    other = factories.make_member(session, org)
    factories.give_points(session, org, other, 1000)  # as `member`: a points wallet, no tier points one
    first = purchase(other, 0)
    assert len([s for s in first if "FROM campaign_actions" in s]) == 1
    assert len(first) == PURCHASE_20_CAMPAIGNS[backend] + 2, str(first)
    # Then the process knows them (campaigns._listening_cache): only their ids and updated_at are read.
    sent = purchase(member, 1)
    assert len(sent) == PURCHASE_20_CAMPAIGNS[backend], str(sent)
    assert not [s for s in sent if "FROM campaign_actions" in s]


def test_a_purchase_costs_the_same_whatever_its_items(session, org, member):
    """An order's items are one INSERT however many (SQLite sent one per row while they had to come back in
    the order sent: `sort_by_parameter_order`; they are sorted by their line instead)."""
    def purchase(n: int, items: int):
        someone = fresh(session, member)
        data = OrderInput(external_id=f"I-{n}", status="confirmed", total=Decimal(20 * items), location_code="BER-01",
                          items=[ItemInput(sku=f"SKU-{i}", quantity=1, unit_price=Decimal(20),
                                           product_category_code="coffee") for i in range(items)],
                          system_unique_key=f"till-1-i-{n}")
        with counting(session) as sent:
            result = orders.record_order(session, someone, data, actor=org.actor)
        assert [(item.line, item.sku) for item in result.order.items] == [(i, f"SKU-{i}") for i in range(items)]
        return sent

    purchase(0, 1)  # what the process remembers of the programme and its campaigns, as in a running process
    one, four = purchase(1, 1), purchase(2, 4)
    assert len(four) == len(one), f"{one}\n---\n{four}"
    assert len(four.touching("purchase_order_items")) == 1, str(four)


def test_pos_coupon_redemption(session, org, member, backend):
    book = coupons.create_book(session, org.id, actor=org.actor, name="Free coffee", type=coupons.REWARD,
                               publishing_status=coupons.PUBLISHED, usage_required_points=100)
    coupons.assign_coupons(session, member, book, actor=org.actor)
    public_id = coupons.account_coupon_public_id(org.id, member.id, book.id)
    as_a_request(session)
    with counting(session) as sent:
        coupons.redeem_account_coupon(session, org.id, public_id, actor=org.actor, system_unique_key="till-2-r-9")
    assert len(sent) == POS_REDEMPTION[backend], str(sent)
    burns = session.scalars(select(LedgerTransaction).where(
        LedgerTransaction.type == ledger.BURN, LedgerTransaction.system_unique_key == "till-2-r-9")).all()
    assert [tx.amount for tx in burns] == [100]


def test_coupon_code_use(session, org, member, backend):
    book = coupons.create_book(session, org.id, actor=org.actor, name="Promo", type=coupons.DISCOUNT,
                               discount_type=coupons.FIXED, discount_amount=5, publishing_status=coupons.PUBLISHED)
    coupons.import_codes(session, book, ["PROMO-1", "PROMO-2"], actor=org.actor)
    book_id = book.id
    member = fresh(session, member)
    book = session.get(coupons.CouponBook, book_id)
    with counting(session) as sent:
        result = coupons.use_coupon(session, member, book, actor=org.actor, code="promo-2", system_unique_key="u-1")
    assert len(sent) == CODE_USE[backend], str(sent)
    # What the statements wrote, read back from the database.
    as_a_request(session)
    assignment, use = session.scalars(select(coupons.CouponUsage).where(coupons.CouponUsage.book_id == book_id)
                                      .order_by(coupons.CouponUsage.id)).all()
    code = session.scalars(select(coupons.CouponCode).where(coupons.CouponCode.code == "PROMO-2")).one()
    assert [u.id for u in result.usages] == [assignment.id, use.id] and result.codes == {code.id: "PROMO-2"}
    assert (assignment.kind, assignment.state, assignment.code_id, assignment.used_at is not None) == \
        (coupons.ASSIGN, coupons.USED, code.id, True)
    assert (use.kind, use.state, use.assignment_id, use.code_id) == (coupons.USE, coupons.USED, assignment.id, code.id)
    assert (code.assigned_count, code.used_count) == (1, 1)
    book = session.get(coupons.CouponBook, book_id)
    assert (book.assigned_count, book.used_count) == (1, 1)
    account = coupons.find_account_coupon(session, member.id, book_id)
    assert (account.assigned_count, account.used_count) == (1, 1)
    assert account.public_id == coupons.account_coupon_public_id(org.id, member.id, book_id)
    events = session.scalars(select(OutboxEvent.event_type).where(OutboxEvent.member_id == member.id)
                             .where(OutboxEvent.event_type.like("coupon-%")).order_by(OutboxEvent.id)).all()
    assert events == ["coupon-code-assigned", "coupon-code-used"]
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "couponusage")
                              .order_by(AuditEntry.id)).all()
    assert actions == ["coupon.assigned", "coupon.used"]
    # The code is single-use: a second member naming it gets the refusal, and nothing moved.
    other = factories.make_member(session, org)
    with pytest.raises(coupons.CouponCodeNotUsable):
        coupons.use_coupon(session, other, session.get(coupons.CouponBook, book_id), actor=org.actor, code="PROMO-2")
