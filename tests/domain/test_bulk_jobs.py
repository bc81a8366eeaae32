"""Bulk jobs: the member import (the check, confirmation, batches, idempotency per file, resuming after a
crash) and the points grant (once per key, resumable, locked members refused)."""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest
from sqlalchemy import event, func, select

from portal.domain import audiences, campaigns, earning, enrolment, members, missions, points, tiers
from portal.domain.context import member_context, member_contexts
from portal.domain.bulk import jobs, member_import, points_grant
from portal.domain.bulk.jobs import DONE, BulkJob
from portal.domain.errors import IdempotencyKeyReused, ValidationFailed
from portal.domain.ledger import Reason
from portal.domain.members import Identifier, Member
from portal.domain.outbox import OutboxEvent

from ..factories import make_member, wallet_of
from .conftest import fails_cleanly

HEADER = "email,givenName,familyName,birthDate,city,loyaltyMemberId,cardCode\n"


def csv_of(*lines: str, header: str = HEADER) -> bytes:
    return (header + "\n".join(lines) + "\n").encode()


def run_to_end(session, job: BulkJob, batch_size: int = 1000) -> BulkJob:
    for _ in range(10_000):
        if job.status == DONE:
            return job
        jobs.run_batch(session, job, batch_size)
    raise AssertionError("the job never finished")


def members_of(session, org) -> int:
    return session.scalar(select(func.count()).select_from(Member).where(Member.organization_id == org.id))


def good_rows(n: int, start: int = 0) -> list[str]:
    return [f"person{i}@example.com,Given{i},Family{i},1990-01-{1 + i % 28:02d},Berlin,," for i in range(start, start + n)]


# --- the check ----------------------------------------------------------------------------------------------

def test_the_check_refuses_each_bad_row_with_its_reason_and_creates_nobody(session, org):
    make_member(session, org, email="taken@example.com")
    card = members.generate_card_code()
    bad_card = card[:-1] + ("2" if card[-1] != "2" else "3")
    content = csv_of(
        "ok1@example.com,Ann,One,1990-02-03,Berlin,L-1," + card,  # line 2
        ",No,Email,,,,",  # 3
        "not-an-email,Bad,Email,,,,",  # 4
        "date@example.com,Bad,Date,1990-13-01,,,",  # 5
        "future@example.com,Future,Date,2999-01-01,,,",  # 6
        "OK1@example.com,Same,Email,,,,",  # 7: the email of line 2, in another case
        "taken@example.com,In,Database,,,,",  # 8
        "card@example.com,Bad,Card,,,," + bad_card,  # 9
        "id@example.com,Same,Id,,,L-1,",  # 10
        "",  # a blank line is not a row
        "ok2@example.com,Bea,Two,,,,")  # 12
    before = members_of(session, org)
    job = member_import.check_file(session, org.id, "people.csv", content, actor=org.actor)
    assert job.status == jobs.CHECKED and job.total == 10 and job.refused == 8
    problems = {row.line: row.problem for row in member_import.refused_rows(session, job)}
    assert problems == {
        3: "email is required",
        4: "Not a valid email address",
        5: "birthDate must be YYYY-MM-DD",
        6: "birthDate cannot be in the future",
        7: "email ok1@example.com is also on line 2",
        8: "email taken@example.com is already in use by a member",
        9: f"cardCode {bad_card} is not a valid card code (check character)",
        10: "loyaltyMemberId L-1 is also on line 2",
    }
    assert members_of(session, org) == before
    csv_text = member_import.refused_csv(session, job)
    assert csv_text.splitlines()[0].startswith("line,email,") and csv_text.splitlines()[0].endswith(",reason")
    assert "8,taken@example.com,In,Database" in csv_text and "already in use by a member" in csv_text
    assert len(csv_text.strip().splitlines()) == 1 + 8


def test_semicolons_other_header_spellings_and_ignored_columns(session, org):
    content = "E-Mail;First Name;last_name;Shoe size\nx@example.com;Ann;One;42\n".encode()
    job = member_import.check_file(session, org.id, "x.csv", content, actor=org.actor)
    assert job.report["ignoredColumns"] == ["Shoe size"]
    member_import.confirm(session, job, actor=org.actor)
    run_to_end(session, job)
    member = session.scalars(select(Member).where(Member.email == "x@example.com")).one()
    assert (member.given_name, member.family_name) == ("Ann", "One")


# --- Excel workbooks ------------------------------------------------------------------------------------------

def xlsx_of(*sheets: tuple[str, list[list]]) -> bytes:
    """A real .xlsx built by openpyxl: (sheet title, rows) per sheet, in order."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX_HEADER = ["Email", "Given name", "Family name", "Birth date", "Zip code", "Shoe size"]


def test_an_xlsx_workbook_is_checked_and_imported_like_a_csv_file(session, org):
    make_member(session, org, email="taken@example.com")
    content = xlsx_of(("Members", [
        XLSX_HEADER,
        ["ann@example.com", "Ann", "One", dt.datetime(1990, 2, 3), 10115, 38],  # row 2: a date cell, numbers
        ["not-an-email", "Bad", "Email", None, None, None],  # 3
        [None, None, None, None, None, None],  # a blank row is not a row
        ["ANN@example.com", "Same", "Email", "1991-04-05", "20095", None],  # 5: row 2's email
        ["taken@example.com", "In", "Database", None, None, None],  # 6
        ["bea@example.com", "Bea", "Two", dt.date(1985, 12, 31), 1067.0, None],  # 7
    ]))
    job = member_import.check_file(session, org.id, "people.xlsx", content, actor=org.actor)
    assert job.status == jobs.CHECKED and (job.total, job.refused) == (5, 3)
    assert job.params["sheet"] == "Members" and job.report["ignoredColumns"] == ["Shoe size"]
    assert {row.line: row.problem for row in member_import.refused_rows(session, job)} == {
        3: "Not a valid email address",
        5: "email ann@example.com is also on line 2",
        6: "email taken@example.com is already in use by a member",
    }
    assert "3,not-an-email,Bad,Email" in member_import.refused_csv(session, job)
    member_import.confirm(session, job, actor=org.actor)
    run_to_end(session, job)
    assert (job.created, job.skipped) == (2, 0)
    by_email = {m.email: m for m in session.scalars(select(Member).where(Member.organization_id == org.id))}
    ann, bea = by_email["ann@example.com"], by_email["bea@example.com"]
    assert (ann.given_name, ann.birth_date, ann.zip_code) == ("Ann", dt.date(1990, 2, 3), "10115")
    assert (bea.birth_date, bea.zip_code) == (dt.date(1985, 12, 31), "1067")
    # The same workbook again is the same job: nobody twice.
    assert member_import.check_file(session, org.id, "again.xlsx", content, actor=org.actor).id == job.id


def test_the_first_sheet_naming_the_columns_is_read(session, org):
    content = xlsx_of(("Read me", [["This list was exported on Monday"], ["Ask Ann about it"]]),
                      ("Members", [XLSX_HEADER, ["cy@example.com", "Cy", "Three", None, None, None]]))
    job = member_import.check_file(session, org.id, "people.xlsx", content, actor=org.actor)
    assert job.params["sheet"] == "Members" and job.total == 1 and job.refused == 0


@pytest.mark.parametrize("name, content, message", [
    ("x.csv", b"givenName,familyName\nAnn,One\n", "at least email"),
    ("x.csv", b"email\n", "no rows"),
    ("x.csv", "email\nä@example.com\n".encode("latin-1"), "not UTF-8"),
    ("x.xlsx", xlsx_of(("Sheet1", [["Name", "Mail"], ["Ann", "ann@example.com"]]), ("Notes", [["nothing"]])),
     "No sheet of the workbook (Sheet1, Notes) has a first row naming the columns, with at least email"),
    ("x.xlsx", xlsx_of(("Members", [XLSX_HEADER])), "no rows"),
    ("x.xlsx", b"PK\x03\x04 not really a zip archive", "cannot be read as an Excel workbook"),
    ("x.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an old binary workbook", "old Excel file (.xls)"),
])
def test_an_unreadable_file_is_refused_whole(session, org, name, content, message):
    with fails_cleanly(session, member_import.ImportFileUnreadable) as info:
        member_import.check_file(session, org.id, name, content, actor=org.actor)
    assert message in info.value.message and info.value.field == "file"
    assert session.scalar(select(func.count()).select_from(BulkJob)) == 0


# --- running it ---------------------------------------------------------------------------------------------

def test_a_confirmed_import_creates_the_good_rows_through_enrolment(session, org):
    card = members.generate_card_code()
    content = csv_of(*good_rows(25), "bad,Bad,Row,,,,", f"carded@example.com,Cara,Card,,Hamburg,EXT-9,{card}")
    job = member_import.check_file(session, org.id, "people.csv", content, actor=org.actor)
    with pytest.raises(jobs.JobNotWaiting):  # not before confirmation
        jobs.queue(jobs.new_job(org.id, "x", "y", actor=org.actor, status=jobs.QUEUED))
    member_import.confirm(session, job, actor=org.actor)
    assert job.status == jobs.QUEUED
    assert jobs.claim(session) is job
    run_to_end(session, job, batch_size=10)
    assert (job.total, job.done, job.created, job.skipped, job.refused) == (27, 27, 26, 0, 1)
    assert job.started_at and job.finished_at
    created = session.scalars(select(Member).where(Member.organization_id == org.id)).all()
    by_email = {m.email: m for m in created}
    assert {f"person{i}@example.com" for i in range(25)} | {"carded@example.com"} <= set(by_email)
    carded = by_email["carded@example.com"]
    assert carded.loyalty_member_id == "EXT-9" and members.card_code_of(session, carded.id) == card
    assert by_email["person3@example.com"].birth_date.isoformat() == "1990-01-04"
    every_one_has_a_card = session.scalar(select(func.count()).select_from(Identifier).where(
        Identifier.member_id.in_([m.id for m in created]), Identifier.type == members.CARDCODE))
    assert every_one_has_a_card == len(created)
    # The enrolment path: each member's `member-created` event, as for a member created one by one.
    events = session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.organization_id == org.id, OutboxEvent.event_type == "member-created"))
    assert events == len(created)


def _import(session, org, content: bytes, batch_size: int = 1000) -> BulkJob:
    job = member_import.check_file(session, org.id, "people.csv", content, actor=org.actor)
    member_import.confirm(session, job, actor=org.actor)
    return run_to_end(session, job, batch_size)


def test_imported_members_get_what_a_member_enrolled_alone_gets(session, org):
    """The import's batched `member-created` (earning.dispatch_many) does for each member what enrol_member's
    dispatch does: the welcome campaign's points and the mission counting signups."""
    welcome = campaigns.create_campaign(session, org.id, code="WELCOME", name="Welcome",
                                        event_type=earning.MEMBER_CREATED, actor=org.actor)
    campaigns.add_action(session, welcome, actor=org.actor, rules_text=[], effects=[
        {"type": "award_points", "mode": "fixed", "points": 100, "tierPoints": False}])
    joined = missions.create_mission(session, org.id, actor=org.actor, name="Joined", event_type=earning.MEMBER_CREATED,
                                     goal_count=1)
    alone, _ = enrolment.enrol_member(session, org.id, actor=org.actor, profile={"email": "alone@example.com"})
    job = _import(session, org, csv_of(*good_rows(7)), batch_size=3)
    assert job.created == 7
    for member in [alone, *session.scalars(select(Member).where(Member.organization_id == org.id,
                                                                Member.id != alone.id))]:
        assert wallet_of(session, org, member).balance == 100, member.email
        assert missions.progress_of(session, member, joined).completions == 1, member.email


def test_an_import_asks_once_per_batch_whether_anything_listens_to_member_created(session, org):
    """Nothing listens (no campaign, mission or referral programme on member-created): the handlers' tables
    are read once per batch, not once per member, and all three in one statement (earning.listeners)."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    def handler_reads(rows: int) -> int:
        statements.clear()
        event.listen(session.get_bind(), "before_cursor_execute", record)
        try:
            _import(session, org, csv_of(*good_rows(rows, start=rows * 100)), batch_size=1000)
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", record)
        return sum(1 for sql in statements if any(f"FROM {table}" in sql for table in
                                                  ("campaigns", "missions", "referral_programs", "referrals ")))

    assert handler_reads(3) == handler_reads(30) == 1


def test_the_same_file_again_creates_nobody_twice(session, org):
    content = csv_of(*good_rows(5))
    job = member_import.check_file(session, org.id, "a.csv", content, actor=org.actor)
    member_import.confirm(session, job, actor=org.actor)
    run_to_end(session, job)
    again = member_import.check_file(session, org.id, "a-copy.csv", content, actor=org.actor)
    assert again.id == job.id and again.status == DONE
    with pytest.raises(jobs.JobNotWaiting):
        member_import.confirm(session, again, actor=org.actor)
    assert members_of(session, org) == 5
    # Another file naming the same people: the check refuses them all, so there is nothing to confirm.
    other = member_import.check_file(session, org.id, "b.csv", csv_of(*good_rows(5)[::-1]), actor=org.actor)
    assert other.id != job.id and other.refused == 5
    with fails_cleanly(session, member_import.NothingToImport):
        member_import.confirm(session, other, actor=org.actor)


def test_a_row_taken_between_the_check_and_the_run_is_skipped(session, org):
    job = member_import.check_file(session, org.id, "a.csv", csv_of(*good_rows(3)), actor=org.actor)
    make_member(session, org, email="person1@example.com")
    member_import.confirm(session, job, actor=org.actor)
    run_to_end(session, job)
    assert (job.created, job.skipped, job.done) == (2, 1, 3)
    assert [r.problem for r in member_import.refused_rows(session, job)] == [
        "email person1@example.com is already in use"]
    assert members_of(session, org) == 3


def test_a_worker_killed_mid_job_resumes_without_doing_a_row_twice(session, org):
    job = member_import.check_file(session, org.id, "a.csv", csv_of(*good_rows(30)), actor=org.actor)
    member_import.confirm(session, job, actor=org.actor)
    jobs.run_batch(session, job, 10)  # the first batch is committed
    killed = session.begin_nested()
    jobs.run_batch(session, job, 10)  # the second batch is under way when the worker dies
    assert job.created == 20
    killed.rollback()
    session.expire_all()
    assert (job.created, job.done, job.cursor) == (10, 10, 11) and members_of(session, org) == 10
    run_to_end(session, job, 10)
    assert (job.created, job.done) == (30, 30)
    emails = session.scalars(select(Member.email).where(Member.organization_id == org.id)).all()
    assert sorted(emails) == sorted(f"person{i}@example.com" for i in range(30))


def test_a_failed_batch_marks_the_job_failed_and_keeps_earlier_batches(session, org):
    job = member_import.check_file(session, org.id, "a.csv", csv_of(*good_rows(4)), actor=org.actor)
    member_import.confirm(session, job, actor=org.actor)
    jobs.run_batch(session, job, 2)
    jobs.fail(session, job.id, "RuntimeError: disk full")
    assert job.status == jobs.FAILED and job.error == "RuntimeError: disk full" and job.created == 2
    assert jobs.claim(session) is None


# --- granting points ----------------------------------------------------------------------------------------

def _list_audience(session, org, people):
    return audiences.create_audience(session, org.id, name="Lucky", actor=org.actor, kind=audiences.LIST,
                                     member_ids=[m.id for m in people])


def test_a_grant_gives_each_member_of_the_audience_points_once(session, org):
    people = [make_member(session, org) for _ in range(3)]
    outsider = make_member(session, org)
    members.update_member(session, people[2], actor=org.actor, account_status="LOCKED")
    audience = _list_audience(session, org, people)
    job = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=250, reason="Sorry for the outage",
                                   key="outage-2026-11", actor=org.actor)
    assert job.status == jobs.QUEUED and job.total == 3
    run_to_end(session, job, batch_size=2)
    assert (job.created, job.skipped, job.refused, job.done) == (2, 0, 1, 3)
    assert job.report == {"membersGranted": 2, "pointsGranted": 500, "alreadyGranted": 0, "refused": 1}
    assert [wallet_of(session, org, m).balance for m in people[:2]] == [250, 250]
    assert wallet_of(session, org, people[2]).balance == 0 and wallet_of(session, org, outsider).balance == 0
    # Asking again with the key finds the job: nobody gets points twice.
    again = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=250,
                                     reason="Sorry for the outage", key="outage-2026-11", actor=org.actor)
    assert again.id == job.id and again.status == DONE
    assert jobs.claim(session) is None
    assert [wallet_of(session, org, m).balance for m in people[:2]] == [250, 250]
    with fails_cleanly(session, IdempotencyKeyReused):
        points_grant.start_grant(session, org.id, audience_id=audience.id, amount=300, reason="Sorry for the outage",
                                 key="outage-2026-11", actor=org.actor)


def test_a_grant_run_again_from_the_start_grants_once_per_member(session, org):
    """The per-member key derived from the job's key: a batch done twice (a lost cursor) replays."""
    people = [make_member(session, org) for _ in range(4)]
    audience = _list_audience(session, org, people)
    job = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=10, reason="Bonus", key="k1",
                                   actor=org.actor)
    run_to_end(session, job, batch_size=3)
    job.status, job.cursor, job.done, job.created = jobs.RUNNING, 0, 0, 0
    run_to_end(session, job, batch_size=3)
    assert (job.created, job.skipped) == (0, 4)
    assert [wallet_of(session, org, m).balance for m in people] == [10, 10, 10, 10]


def test_a_grant_resumes_after_a_crash(session, org):
    people = [make_member(session, org) for _ in range(5)]
    audience = _list_audience(session, org, people)
    job = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=7, reason="Bonus", key="k2",
                                   actor=org.actor)
    jobs.run_batch(session, job, 2)
    killed = session.begin_nested()
    jobs.run_batch(session, job, 2)
    killed.rollback()
    session.expire_all()
    run_to_end(session, job, 2)
    assert job.created == 5 and [wallet_of(session, org, m).balance for m in people] == [7] * 5


def test_a_rule_audience_grant_reaches_only_the_members_matching_it(session, org):
    berliners = [make_member(session, org, city="Berlin") for _ in range(2)]
    other = make_member(session, org, city="Köln")
    audience = audiences.create_audience(session, org.id, name="Berlin", actor=org.actor,
                                         rule='member.city == "Berlin"')
    job = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=5, reason="Hello Berlin",
                                   key="berlin", actor=org.actor)
    run_to_end(session, job)
    assert job.created == 2 and job.report["membersGranted"] == 2
    assert [wallet_of(session, org, m).balance for m in berliners] == [5, 5]
    assert wallet_of(session, org, other).balance == 0


@pytest.mark.parametrize("change, field", [({"amount": 0}, "amount"), ({"reason": " "}, "reason"),
                                           ({"key": ""}, "key"), ({"key": "k" * 101}, "key")])
def test_a_grant_needs_an_amount_a_reason_and_a_key(session, org, change, field):
    audience = _list_audience(session, org, [make_member(session, org)])
    values = {"audience_id": audience.id, "amount": 5, "reason": "Bonus", "key": "k", **change}
    with fails_cleanly(session, ValidationFailed) as info:
        points_grant.start_grant(session, org.id, actor=org.actor, **values)
    assert info.value.field == field


def test_create_members_refuses_a_taken_value_and_creates_nobody(session, org):
    from portal.domain.errors import DuplicateValue

    make_member(session, org, email="taken@example.com")
    before = members_of(session, org)
    batch = [members.build_member(org.id, profile={"email": e}) for e in ("new@example.com", "TAKEN@example.com")]
    with fails_cleanly(session, DuplicateValue) as info:
        members.create_members(session, org.id, batch, [None, None], actor=org.actor)
    assert info.value.field == "profile.email" and members_of(session, org) == before
    twice = [members.build_member(org.id, profile={"email": "same@example.com"}) for _ in range(2)]
    with fails_cleanly(session, DuplicateValue):
        members.create_members(session, org.id, twice, [None, None], actor=org.actor)
    code = members.generate_card_code()
    pair = [members.build_member(org.id, profile={"email": f"c{i}@example.com"}) for i in range(2)]
    with fails_cleanly(session, DuplicateValue) as info:
        members.create_members(session, org.id, pair, [code, code], actor=org.actor)
    assert info.value.field == "code" and members_of(session, org) == before


def test_a_rule_audience_grant_sees_each_members_tier_and_balance(session, org):
    """The grant reads a batch's members at once (context.member_contexts): each must still be seen as
    member_context sees them alone, with their own tier and balance."""
    gold = tiers.create_tier(session, org.program, name="Gold", min_points=10_000, actor=org.actor)
    rich_gold, poor_gold, rich_plain, nobody = (make_member(session, org) for _ in range(4))
    for member in (rich_gold, poor_gold):
        tiers.set_tier(session, member.id, org.program, gold, actor=org.actor)
    for member, amount in ((rich_gold, 100), (poor_gold, 5), (rich_plain, 100)):
        points.mint_to_member(session, member, amount, actor=org.actor, reason=Reason(description="seed"))
    people = [rich_gold, poor_gold, rich_plain, nobody]
    alone = {m.id: member_context(session, m, with_audiences=False) for m in people}
    assert member_contexts(session, org.id, people) == alone
    assert [alone[m.id]["tier"] for m in people] == ["gold", "gold", None, None]
    audience = audiences.create_audience(session, org.id, name="Rich gold", actor=org.actor,
                                         rule='member.tier == "gold" and member.balance >= 50')
    job = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=1, reason="Thanks",
                                   key="rich-gold", actor=org.actor)
    run_to_end(session, job, batch_size=3)
    assert job.created == 1
    assert [wallet_of(session, org, m).balance for m in people] == [101, 5, 100, 0]
