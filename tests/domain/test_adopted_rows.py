"""base.adopt_inserted: a row a Core INSERT wrote joins the session as if a flush had inserted it, and leaves it
again exactly when the transaction or savepoint that wrote it rolls back."""
import pytest
from sqlalchemy import String, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from portal.db import make_engine
from portal.domain.base import adopt_inserted


class _Base(DeclarativeBase):
    pass


class Note(_Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(20))


@pytest.fixture
def own():
    engine = make_engine("sqlite://")  # with the savepoint recipe
    _Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def write(session: Session, text: str) -> Note:
    note = Note(id=session.execute(insert(Note).returning(Note.id), {"text": text}).scalar_one(), text=text)
    adopt_inserted(session, note)
    return note


def test_an_adopted_row_is_the_sessions_loaded_object(own):
    note = write(own, "kept")
    assert note in own and not own.new and not own.dirty
    assert own.get(Note, note.id) is note
    own.commit()
    assert own.get(Note, note.id) is note and note.text == "kept"


def test_a_rolled_back_row_is_not_seen_by_the_next_transaction(own):
    undone = write(own, "undone")
    own.rollback()
    assert undone not in own
    again = write(own, "again")  # SQLite gives the undone row's id out again
    assert again.id == undone.id and own.get(Note, again.id) is again
    own.commit()
    assert own.scalars(select(Note.text)).all() == ["again"]


def test_a_savepoint_rolled_back_takes_only_its_own_rows(own):
    kept = write(own, "kept")
    with pytest.raises(RuntimeError), own.begin_nested():
        undone = write(own, "undone")
        raise RuntimeError("the step failed")
    assert kept in own and undone not in own and own.get(Note, undone.id) is None
    own.commit()
    assert own.scalars(select(Note.text)).all() == ["kept"]


def test_a_released_savepoints_rows_go_with_the_transaction_around_it(own):
    with own.begin_nested():
        inner = write(own, "inner")
    assert inner in own
    own.rollback()
    assert inner not in own and own.get(Note, inner.id) is None


def test_a_savepoint_still_open_when_the_transaction_rolls_back(own):
    own.begin_nested()
    inner = write(own, "inner")
    own.rollback()  # the whole transaction, the open savepoint with it
    assert inner not in own and own.get(Note, inner.id) is None
    assert not own.info.get("portal.adopted")


def test_values_an_update_returned_are_expired_with_their_savepoint(own):
    from sqlalchemy import update
    from sqlalchemy.orm.attributes import set_committed_value

    from portal.domain.base import adopt_updated

    note = write(own, "before")
    own.commit()
    assert note.text == "before"  # loaded before the savepoint
    with pytest.raises(RuntimeError), own.begin_nested():
        notes = Note.__table__  # a Core UPDATE, as the coupon counters are written
        text = own.execute(update(notes).where(notes.c.id == note.id).values(text="undone")
                           .returning(notes.c.text)).scalar()
        set_committed_value(note, "text", text)
        adopt_updated(note)
        assert note.text == "undone" and not own.dirty
        raise RuntimeError("the step failed")
    assert note in own and note.text == "before"  # read again: the database's value, not the undone one
