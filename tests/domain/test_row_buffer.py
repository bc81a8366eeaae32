"""Audit and outbox rows written together (domain/row_buffer.py): one statement per table for a purchase, and
nothing lost, kept wrongly or reordered by the buffering."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.domain import audit, orders, outbox, row_buffer
from portal.domain.audit import AuditEntry
from portal.domain.outbox import OutboxEvent
from tests import factories
from tests.domain.test_earning import base_campaign, order
from tests.statements import counting


def events(session, member_id) -> list[str]:
    return list(session.scalars(select(OutboxEvent.event_type).where(OutboxEvent.member_id == member_id,
                                                                     OutboxEvent.event_type != "member-created")
                                .order_by(OutboxEvent.id)))


def actions(session, org) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).where(AuditEntry.organization_id == org.id,
                                                                AuditEntry.action.like("t.%"))
                                .order_by(AuditEntry.id)))


# The order created, its points and tier points, the order confirmed.
PURCHASE_EVENTS = ["member-purchase-order-created", "ledger-transaction-created", "ledger-transaction-created",
                   "member-purchase-order-confirmed"]


def emit_now(session, org, member, name: str) -> None:
    outbox.insert_events(session, [outbox.event_row(org.id, name, member_id=member.id)])


def test_a_purchase_writes_its_audit_entries_and_events_once_each_in_the_order_they_happened(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    session.flush()
    with counting(session) as sent:
        orders.record_order(session, member, order("B-1", "20.00"), actor=org.actor)
    assert len(sent.touching("audit_log")) == len(sent.touching("outbox_events")) == 1, str(sent)
    # Read in the same transaction, before any commit: written at the end of record_order.
    assert events(session, member.id) == PURCHASE_EVENTS
    order_id = session.scalars(select(orders.PurchaseOrder.id).where(orders.PurchaseOrder.external_id == "B-1")).one()
    assert [e.action for e in orders.effects_of(session, session.get(orders.PurchaseOrder, order_id)).history] == [
        "order.created", "order.confirmed"]
    minted = session.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.minted",
                                                      AuditEntry.organization_id == org.id)
                             .order_by(AuditEntry.id.desc())).first()
    assert minted.details["amount"] == 20


def test_a_tier_reached_by_a_purchase_is_sent_between_its_points_and_its_confirmation(session, org):
    # The tier change's event is an ORM row (tiers._change): the buffered points events before it keep lower ids.
    base_campaign(session, org)
    _, silver, _ = factories.make_tiers(session, org)
    member = factories.make_member(session, org)
    session.flush()
    orders.record_order(session, member, order("T-1", str(silver.min_points)), actor=org.actor)
    assert events(session, member.id) == PURCHASE_EVENTS[:3] + ["member-tier-set"] + PURCHASE_EVENTS[3:]
    confirmed = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.confirmed",
                                                         AuditEntry.organization_id == org.id)).one()
    assert confirmed.details["tierChange"] == [None, silver.id]


def test_rows_are_written_at_the_end_of_the_block_in_order_with_orm_rows_of_the_same_table(session, org):
    member = factories.make_member(session, org)
    session.flush()
    with row_buffer.together(session):
        outbox.emit(session, org.id, "t-1", member_id=member.id)  # ORM, pending: flushed before the next is buffered
        emit_now(session, org, member, "t-2")
        emit_now(session, org, member, "t-3")
        outbox.emit(session, org.id, "t-4", member_id=member.id)
        session.flush()  # the ORM row's flush writes the buffered ones first
        with counting(session) as sent:
            emit_now(session, org, member, "t-5")
        assert not sent.touching("outbox_events")  # not yet written
    assert events(session, member.id)[-5:] == ["t-1", "t-2", "t-3", "t-4", "t-5"]


def test_a_read_inside_the_block_sees_the_rows_buffered_so_far(session, org):
    """Whatever reads the buffered tables in the block (ORM or Core, directly, in a join or a subquery) is sent
    after the rows it would miss; a read of other tables leaves them buffered."""
    from sqlalchemy import func

    from portal.domain.members import Member

    member = factories.make_member(session, org)
    session.flush()
    table = AuditEntry.__table__
    with row_buffer.together(session):
        emit_now(session, org, member, "t-1")
        audit.record_now(session, org.actor, "t.one", member)
        with counting(session) as sent:
            session.scalar(select(func.count()).select_from(Member))
        assert not sent.touching("outbox_events") and not sent.touching("audit_log")
        assert events(session, member.id) == ["t-1"]  # ORM, the outbox written first (both tables: one `write`)
        emit_now(session, org, member, "t-2")
        assert session.execute(select(OutboxEvent.__table__.c.event_type)  # Core, in a subquery
                               .where(OutboxEvent.__table__.c.id.in_(select(func.max(OutboxEvent.id))))).scalar() == "t-2"
        audit.record_now(session, org.actor, "t.two", member)
        assert session.scalars(select(table.c.action).select_from(Member.__table__.join(
            table, table.c.target_id == func.cast(Member.__table__.c.id, table.c.target_id.type)))
            .where(Member.__table__.c.id == member.id, table.c.action.like("t.%"))
            .order_by(table.c.id)).all() == ["t.one", "t.two"]  # Core, in a join
        audit.record_now(session, org.actor, "t.three", member)
    assert actions(session, org) == ["t.one", "t.two", "t.three"]


def test_a_statement_read_before_its_table_was_first_buffered_still_sees_its_rows(session, org, monkeypatch):
    """Whether a statement names a buffered table is worked out once per statement: the tables it names are kept,
    not the answer, since a process buffers a second table later (here: audit rows first, events after)."""
    monkeypatch.setattr(row_buffer, "_MODELS", set())  # a fresh process: nothing buffered yet
    member = factories.make_member(session, org)
    session.flush()
    reading = select(OutboxEvent.event_type).where(OutboxEvent.member_id == member.id).order_by(OutboxEvent.id)
    with row_buffer.together(session):
        audit.record_now(session, org.actor, "t.one", member)
        assert "t-1" not in session.scalars(reading).all()  # only audit rows buffered: nothing to write for it
        emit_now(session, org, member, "t-1")
        assert session.scalars(reading).all()[-1:] == ["t-1"]


def test_a_savepoint_rolled_back_drops_the_rows_buffered_inside_it(session, org):
    member = factories.make_member(session, org)
    session.flush()
    with row_buffer.together(session):
        audit.record_now(session, org.actor, "t.before", member)
        emit_now(session, org, member, "t-before")
        with pytest.raises(RuntimeError):
            with session.begin_nested():
                audit.record_now(session, org.actor, "t.undone", member)
                emit_now(session, org, member, "t-undone")
                raise RuntimeError
        with session.begin_nested():  # released: kept
            audit.record_now(session, org.actor, "t.released", member)
            with pytest.raises(RuntimeError):
                with session.begin_nested():
                    emit_now(session, org, member, "t-inner-undone")
                    raise RuntimeError
        emit_now(session, org, member, "t-after")
    assert actions(session, org) == ["t.before", "t.released"]
    assert events(session, member.id)[-2:] == ["t-before", "t-after"]


def test_rows_written_inside_a_savepoint_then_rolled_back_are_gone(session, org):
    member = factories.make_member(session, org)
    session.flush()
    with row_buffer.together(session):
        emit_now(session, org, member, "t-kept")
        with pytest.raises(RuntimeError):
            with session.begin_nested():
                emit_now(session, org, member, "t-undone")
                row_buffer.write(session)  # written inside the savepoint: its rollback undoes them in the database
                emit_now(session, org, member, "t-undone-too")
                raise RuntimeError
    assert events(session, member.id)[-1:] == ["t-kept"]
    assert "t-undone" not in events(session, member.id) and "t-undone-too" not in events(session, member.id)


def test_a_commit_inside_the_block_writes_them_and_a_rollback_drops_them(session, org):
    member = factories.make_member(session, org)
    session.commit()
    with row_buffer.together(session):
        emit_now(session, org, member, "t-committed")
        session.commit()  # before_commit: written in the transaction it commits
        emit_now(session, org, member, "t-rolled-back")
        session.rollback()
    assert events(session, member.id) == ["t-committed"]
    assert session.info.get("portal.rows.buffer") is None


def test_an_error_in_the_block_leaves_the_rows_to_the_callers_rollback(session, org):
    # An import: a purchase too late to earn is refused after its order and `order.created` were added; its row's
    # savepoint rolls back and leaves nothing, the next row is kept whole.
    base_campaign(session, org)
    member = factories.make_member(session, org)
    session.flush()
    late = order("LATE-1", "20.00", external_event_date=dt.datetime.now(dt.timezone.utc)
                 - dt.timedelta(days=400))
    results = orders.import_orders(session, org.id, [(member, late, None), (member, order("OK-1", "10.00"), None)],
                                   actor=org.actor)
    assert [r["status"] for r in results] == ["failed", "ok"]
    assert events(session, member.id) == PURCHASE_EVENTS
    created = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "order.created",
                                                               AuditEntry.organization_id == org.id)).all()
    assert len(created) == 1
    assert session.scalars(select(orders.PurchaseOrder.external_id).where(
        orders.PurchaseOrder.organization_id == org.id)).all() == ["OK-1"]
    assert Decimal(results[1]["pointsEarned"]) == 10
