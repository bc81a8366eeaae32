"""Declarative base, column types, time helpers and the lookups shared by every model.

- `get_owned`: a row by id inside the organisation (and its parent), else NotFound;
  a row of another organisation is as absent as a missing one.
- `add_unique`: insert a row, turning the unique constraint it breaks into a named error;
  `assign_given`: set the attributes a caller gave (not None).
- `OwnedRow` / `IndexedOwnedRow`: the id and organisation columns of a row that belongs to one organisation.
- `ValidityWindow`: `active` with an optional [valid_from, valid_to) window, for
  campaigns, missions and referral programmes.
- `upsert_insert`: the dialect's INSERT (ON CONFLICT ...), the same SQL on SQLite and PostgreSQL;
  `session_memo`: a per-session cache of immutable lookups, emptied on every rollback; `memo_follows_rows`: a memo
  whose entries a write of the rows it read forgets.
- `adopt_inserted`: a row a Core INSERT wrote, made the session's object as if a flush had inserted it
  (and so dropped from the session again when its transaction or savepoint rolls back).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, TypeVar

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, MetaData, TypeDecorator, event,
                        inspect, text)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, SessionTransaction, make_transient,
                            make_transient_to_detached, mapped_column, object_session)

from .errors import DomainError, NotFound, ValidationFailed

Row = TypeVar("Row")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; INTEGER on SQLite so that it stays the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def in_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """An aware time at any offset as the same moment in UTC, as the database gives it back."""
    return moment.astimezone(dt.timezone.utc) if moment is not None else None


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[int]: JSON(),
        list[dict[str, Any]]: JSON(),
        int: BigInteger().with_variant(Integer(), "sqlite"),
    }


def unique_where(name: str, *columns: str, where: str) -> Index:
    """A partial unique index, the same on SQLite and PostgreSQL: unique among the rows where `where` holds."""
    return Index(name, *columns, unique=True, sqlite_where=text(where), postgresql_where=text(where))


def isoformat(value: dt.datetime | dt.date | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the API promises."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return value.isoformat()


# --- rows of one organisation ---------------------------------------------------------------

class OwnedRow:
    """A row that belongs to one organisation (`get_owned` finds it): its id and the organisation's.

    The organisation column has no index of its own: the table's own indexes start with it. Both columns stay
    the table's first (sort_order), as they were when each model declared them."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-2)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), sort_order=-1)


class IndexedOwnedRow(OwnedRow):
    """An `OwnedRow` looked up by its organisation alone (`ix_<table>_organization_id`)."""

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True, sort_order=-1)


# --- lookups ----------------------------------------------------------------------------

def fits_id(value) -> bool:
    """Ids are signed 64-bit: anything else names nothing (and must not reach the database)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 63


def get_owned(session: Session, model: type[Row], row_id: int, organization_id: int, *, what: str, field: str,
              **scope: Any) -> Row:
    """The `model` row with this id in the organisation, else NotFound("<what> not found") on `field`.

    Each `scope` column given a value other than None must match too (`ledger_id=3`,
    `campaign_id=7`): a row of another parent is as absent as a missing one.
    """
    # No id, or an int beyond BIGINT, names nothing and must not reach the database (SQLite cannot bind it).
    names_nothing = not row_id or (isinstance(row_id, int) and not fits_id(row_id))
    row = None if names_nothing else session.get(model, row_id)
    if row is None or row.organization_id != organization_id or any(
            value is not None and getattr(row, name) != value for name, value in scope.items()):
        raise NotFound(f"{what} not found", field=field)
    return row


def upsert_insert(session: Session, model: Any):
    """`insert(model)` of the session's dialect, which has `on_conflict_do_nothing` / `_do_update`."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


_MEMOS = "portal.memos"


def session_memo(session: Session, name: str) -> dict:
    """A dict kept with the session until its transaction ends, for lookups a unit of work repeats (an
    account's system wallets, a member's wallet).

    Emptied on every commit, rollback (savepoints included) and close, so a row that was rolled back (SQLite then
    reuses its id) is never remembered, and nothing outlives the transaction that read it."""
    return session.info.setdefault(_MEMOS, {}).setdefault(name, {})


def memo_follows_rows(model: type, name: str, key: Callable[[Any], Any]) -> None:
    """Keep the session memo `name` true to the rows of `model` it was read from: its entry `key(row)` is
    forgotten when such a row joins the session new, and when a flush inserts, changes or deletes one. The one
    place a memo is invalidated; the writers need not know which memos read their rows."""
    _MEMOS_OF_ROWS.setdefault(model, []).append((name, key))
    for change in ("after_insert", "after_update", "after_delete"):
        event.listen(model, change, _forget_for_flushed_row)


_MEMOS_OF_ROWS: dict[type, list[tuple[str, Callable[[Any], Any]]]] = {}


def _forget_for_row(session: Session, row: Any) -> None:
    memos = session.info.get(_MEMOS)
    if memos:
        for name, key in _MEMOS_OF_ROWS[type(row)]:
            if name in memos:
                memos[name].pop(key(row), None)


def _forget_for_flushed_row(_mapper, _connection, row: Any) -> None:
    _forget_for_row(object_session(row), row)


@event.listens_for(Session, "transient_to_pending")
def _forget_for_added_row(session: Session, row: Any) -> None:
    # Before the flush: a memo read before the row is flushed (one that answers without a query) must not miss it.
    if type(row) in _MEMOS_OF_ROWS:
        _forget_for_row(session, row)


def keep(session: Session, *rows: Any) -> None:
    """Hold rows in the identity map until the transaction ends (it holds them weakly), so that reading
    them again by id (`session.get`) asks the database nothing."""
    kept = session_memo(session, "kept")
    for row in rows:
        kept[id(row)] = row


def forget_memos(session: Session) -> None:
    session.info.pop(_MEMOS, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_memos_on_rollback(session, _previous_transaction) -> None:
    forget_memos(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_memos_when_the_transaction_ends(session, transaction) -> None:
    # Commit, rollback or close: `close()` rolls back without a rollback event, and session.info outlives it.
    if transaction.parent is None:
        forget_memos(session)


# --- rows written by Core statements ----------------------------------------------------------
_ADOPTED = "portal.adopted"


def adopt_inserted(session: Session, *rows: Row) -> None:
    """Make rows a Core INSERT wrote (objects built with every column, id included, or returned by an ORM
    `INSERT ... RETURNING`) the session's objects, as if its flush had inserted them: persistent as loaded,
    nothing to flush, and, like a flushed row, gone from the session when the transaction or savepoint that
    wrote them rolls back (SQLite may then give their id to another row; the next transaction must not find
    the undone one in the identity map). No statement."""
    for row in rows:
        if inspect(row).transient:
            make_transient_to_detached(row)
            session.add(row)
    _remember(rows, inserted=True)


def adopt_updated(*rows: Any) -> None:
    """Rows of the session on which a Core UPDATE's RETURNING values were set as loaded (`set_committed_value`):
    like rows a flush updated, they are expired when the transaction or savepoint that wrote them rolls back, so
    that the next read sees the database's values, not the undone ones. No statement."""
    _remember(rows, inserted=False)


def _remember(rows, *, inserted: bool) -> None:
    if rows:
        own = object_session(rows[0])  # the Session itself, also when given a scoped_session
        transaction = own.get_nested_transaction() or own.get_transaction()
        own.info.setdefault(_ADOPTED, {}).setdefault(transaction, []).extend((row, inserted) for row in rows)


@event.listens_for(Session, "after_transaction_end")
def _hand_adopted_up(session: Session, transaction: SessionTransaction) -> None:
    """A transaction ended without rolling back (`_drop_adopted_on_rollback` took its rows otherwise): a
    released savepoint's rows are its parent's now, as a rollback of the parent undoes them; a root's are kept."""
    adopted = session.info.get(_ADOPTED)
    if not adopted or transaction not in adopted:
        return
    rows = adopted.pop(transaction)
    if transaction.parent is not None:
        adopted.setdefault(transaction.parent, []).extend(rows)
    elif not adopted:
        session.info.pop(_ADOPTED)


@event.listens_for(Session, "after_rollback")
def _drop_adopted_on_rollback(session) -> None:
    # Fired while the transaction or savepoint rolled back is still the innermost one open (savepoints inside it
    # were closed first and handed theirs up to it); its inserted rows leave the session, as SQLAlchemy expunges
    # the rows a flush inserted in it, and its updated ones are expired.
    adopted = session.info.get(_ADOPTED)
    if not adopted:
        return
    undone = session.get_nested_transaction() or session.get_transaction()
    for transaction in [t for t in adopted if _within(t, undone)]:
        for row, inserted in adopted.pop(transaction):
            if not inserted:
                if row in session:
                    session.expire(row)
                continue
            if row in session:
                session.expunge(row)
            make_transient(row)
    if not adopted:
        session.info.pop(_ADOPTED)


def _within(transaction: SessionTransaction | None, outer: SessionTransaction | None) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def add_unique(session: Session, row: Any, duplicate: DomainError) -> None:
    """Insert `row` in a savepoint; when it breaks a unique constraint raise `duplicate` instead."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise duplicate from None


def assign_given(row: Any, **values: Any) -> list[str]:
    """Set each attribute whose value is not None; returns the names set, in the order given."""
    given = [name for name, value in values.items() if value is not None]
    for name in given:
        setattr(row, name, values[name])
    return given


# --- validity windows -----------------------------------------------------------------------

class ValidityWindow:
    """Switched on (`active`) and, optionally, only from `valid_from` (inclusive) to `valid_to` (exclusive)."""

    active: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[dt.datetime | None] = mapped_column(default=None)
    valid_to: Mapped[dt.datetime | None] = mapped_column(default=None)

    def is_running_at(self, moment: dt.datetime) -> bool:
        return (self.active and (self.valid_from is None or moment >= self.valid_from)
                and (self.valid_to is None or moment < self.valid_to))

    def set_window(self, values: dict[str, Any], *, from_field: str, to_field: str) -> None:
        """Take `active`, `valid_from` and `valid_to` from `values` where given (None leaves `active` as it is).

        Raises ValidationFailed on `from_field`/`to_field` for a time without a timezone,
        on `to_field` when the window ends before it starts.
        """
        if values.get("active") is not None:
            self.active = bool(values["active"])
        for key, field in (("valid_from", from_field), ("valid_to", to_field)):
            if key in values:
                if values[key] is not None and values[key].tzinfo is None:
                    raise ValidationFailed("must include a timezone", field=field)
                setattr(self, key, values[key])
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValidationFailed(f"{to_field} must be after {from_field}", field=to_field)
