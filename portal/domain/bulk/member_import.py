"""Member import from a CSV file or an Excel workbook (.xlsx): check every row first, then (once staff
confirm) create the good rows in the worker, batch by batch, through enrolment (`enrol_members`), so welcome
campaigns run as for anyone.

A workbook is read from its first sheet whose first row names the columns (the job keeps the sheet's name),
its cells as a CSV export writes them (dates YYYY-MM-DD, whole numbers without a decimal point), and its
rows are numbered as the sheet numbers them; from there both formats take the same checks.

Rules, in the order they are checked for a row:
1. required columns have a value (`email`);
2. the profile is valid as `members.build_member` sees it (email syntax, birthDate YYYY-MM-DD and not in
   the future, countryCode two letters);
3. a `cardCode` is a valid card code (its check character);
4. email, loyaltyMemberId and cardCode appear once in the file (a second row naming one is refused);
5. and are not taken in the organisation.
Rows failing a rule are refused with the reason; staff can download them as CSV.

Idempotent per file: the job's key is the file's SHA-256, so the same file again finds its job instead of
importing anyone twice. When the worker runs a row whose email, id or card code was taken since the check,
the row is skipped (nobody is created twice, whichever file named them).

Erasure (`forget_person`) blanks every row that named the person or created them: what the row said and the
reason are gone (the reason reads "erased"); a row not run yet is refused rather than run.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from typing import Any

import openpyxl
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from .. import audit, enrolment, members
from ..actors import Actor
from ..errors import DomainError, ValidationFailed
from ..members import CARDCODE
from . import jobs
from .jobs import BulkJob, BulkJobRow

KIND = "member-import"
# Header spellings (lower case, without spaces, `_` or `-`) -> field.
COLUMNS = {"email": "email", "emailaddress": "email", "givenname": "givenName", "firstname": "givenName",
           "familyname": "familyName", "lastname": "familyName", "birthdate": "birthDate", "phone": "phone",
           "street": "street", "city": "city", "zipcode": "zipCode", "postcode": "zipCode",
           "countrycode": "countryCode", "country": "countryCode", "loyaltymemberid": "loyaltyMemberId",
           "cardcode": "cardCode"}
FIELDS = ("email", "givenName", "familyName", "birthDate", "phone", "street", "city", "zipCode", "countryCode",
          "loyaltyMemberId", "cardCode")
REQUIRED = ("email",)
DELIMITERS = ",;\t"
XLSX_MAGIC = b"PK\x03\x04"  # a zip archive, as every .xlsx is
XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format
# A workbook is compressed: 16 MB of .xlsx can hold far more rows than 16 MB of CSV.
MAX_XLSX_ROWS = 500_000
MAX_XLSX_COLUMNS = 100
CREATED, SKIPPED, REFUSED = "created", "skipped", "refused"
ERASED = "The person was erased"


class ImportFileUnreadable(ValidationFailed):
    code = "import_file_unreadable"
    title = "The file cannot be read as a member list"


class NothingToImport(ValidationFailed):
    code = "nothing_to_import"
    title = "No row of the file can be imported"


def check_file(session: Session, organization_id: int, file_name: str, content: bytes, *,
               actor: Actor) -> BulkJob:
    """Check every row and keep the result as a job waiting for confirmation; the same file again
    returns its job. Raises ImportFileUnreadable."""
    digest = hashlib.sha256(content).hexdigest()
    existing = jobs.find_job(session, organization_id, KIND, digest)
    if existing is not None:
        return existing
    header, rows, ignored, sheet = _read(content)
    problems = _problems(session, organization_id, rows)
    job = jobs.new_job(organization_id, KIND, digest, actor=actor, status=jobs.CHECKED,
                       params={"fileName": file_name[:200], "columns": header,
                               **({"sheet": sheet[:200]} if sheet is not None else {})})
    job.total = len(rows)
    job.refused = job.done = len(problems)
    job.report = {"ignoredColumns": ignored}
    session.add(job)
    session.flush()
    if rows:
        session.execute(insert(BulkJobRow), [
            {"job_id": job.id, "line": line, "key": (data.get("email") or "")[:254], "data": data,
             "problem": problems.get(line), "outcome": REFUSED if line in problems else None}
            for line, data in rows])
    audit.record(session, actor, "bulk.import_checked", job, rows=len(rows), refused=len(problems))
    return job


def confirm(session: Session, job: BulkJob, *, actor: Actor) -> BulkJob:
    """Queue a checked import for the worker. Raises JobNotWaiting, NothingToImport."""
    if job.status == jobs.CHECKED and job.total == job.refused:
        raise NothingToImport("Every row of the file was refused: there is nobody to import", field="jobId")
    jobs.queue(job)
    audit.record(session, actor, "bulk.import_confirmed", job)
    session.flush()
    return job


def refused_rows(session: Session, job: BulkJob) -> list[BulkJobRow]:
    """The rows refused at the check or skipped when run, in file order, each with its reason."""
    return list(session.scalars(select(BulkJobRow).where(BulkJobRow.job_id == job.id,
                                                         BulkJobRow.problem.is_not(None))
                                .order_by(BulkJobRow.line)))


def refused_csv(session: Session, job: BulkJob) -> str:
    """The refused rows as CSV: their line, what they said and the reason."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", *FIELDS, "reason"])
    for row in refused_rows(session, job):
        writer.writerow([row.line, *(row.data.get(f, "") for f in FIELDS), row.problem])
    return out.getvalue()


def forget_person(session: Session, organization_id: int, member_id: int, email: str | None) -> int:
    """Erasure: blank the organisation's import rows that created the member or named their email
    (case-insensitive); a row not run yet is refused (and counted so) rather than run. Returns the rows."""
    r = BulkJobRow
    named = [r.member_id == member_id]
    if email:
        named.append(func.lower(r.key) == email.strip().lower()[:254])
    rows = list(session.scalars(select(r).join(BulkJob, BulkJob.id == r.job_id)
                                .where(BulkJob.organization_id == organization_id, or_(*named))))
    for row in rows:
        if row.problem is None and row.outcome is None:  # not run yet: refused, never run with nothing
            row.outcome = REFUSED
            job = session.get(BulkJob, row.job_id)
            job.refused, job.done = job.refused + 1, job.done + 1
        if row.problem is not None or row.outcome == REFUSED:
            row.problem = ERASED
        row.key, row.data = "", {}
    session.flush()
    return len(rows)


@jobs.handler(KIND, read_role="members:read", start_role="members:write")
def run_batch(session: Session, job: BulkJob, batch_size: int) -> bool:
    """Create the members of the next good rows; rows taken since the check are skipped."""
    rows = list(session.scalars(select(BulkJobRow).where(BulkJobRow.job_id == job.id, BulkJobRow.line > job.cursor,
                                                         BulkJobRow.problem.is_(None))
                                .order_by(BulkJobRow.line).limit(batch_size)))
    if not rows:
        return True
    taken = _taken_now(session, job.organization_id, [r.data for r in rows])
    changes, new_members, card_codes, new_rows = [], [], [], []
    for row in rows:
        reason = next((f"{field} {value} is already in use" for field, value in _keys(row.data)
                       if (field, value) in taken), None)
        if reason:
            changes.append({"id": row.id, "outcome": SKIPPED, "problem": reason})
            continue
        member = members.build_member(job.organization_id, profile=_profile(row.data))
        member.loyalty_member_id = row.data.get("loyaltyMemberId") or None
        new_members.append(member)
        card_codes.append(row.data.get("cardCode") or None)
        new_rows.append(row)
    enrolment.enrol_members(session, job.organization_id, new_members, card_codes, actor=job.actor())
    changes += [{"id": row.id, "outcome": CREATED, "member_id": member.id}
                for row, member in zip(new_rows, new_members)]
    session.execute(update(BulkJobRow), changes)
    job.created += len(new_members)
    job.skipped += len(rows) - len(new_members)
    job.done += len(rows)
    job.cursor = rows[-1].line
    return len(rows) < batch_size


# --- reading and checking the file ---------------------------------------------------------------

def _read(content: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[str], str | None]:
    """(the fields the header names, (line, values) per non-blank row, the header cells ignored, the sheet
    read or None for a CSV file). An Excel workbook is told from CSV by its content, not its name."""
    if content.startswith(XLSX_MAGIC):
        sheet, header_cells, lines = _xlsx_lines(content)
        return (*_rows_of(header_cells, lines), sheet)
    if content.startswith(XLS_MAGIC):
        raise ImportFileUnreadable("This is an old Excel file (.xls): save it as .xlsx or as “CSV UTF-8” and try "
                                   "again.", field="file")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileUnreadable("The file is not UTF-8 text: save it as “CSV UTF-8” and try again.",
                                   field="file") from None
    if "\x00" in text:
        raise ImportFileUnreadable("The file is not a CSV text file.", field="file")
    first_line = text.split("\n", 1)[0]
    delimiter = next((d for d in DELIMITERS if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header_cells = next(reader, [])
        # Read every line here, inside the try: a broken line raises as the reader reaches it.
        lines = [(reader.line_num, cells) for cells in reader]
    except csv.Error as error:
        raise ImportFileUnreadable(f"Line {reader.line_num} cannot be read as CSV: {error}", field="file") from None
    return (*_rows_of(header_cells, lines), None)


def _columns(header_cells: list[str]) -> list[str | None]:
    """The field each header cell names (None for a column ignored)."""
    return [COLUMNS.get(_spelling(cell)) for cell in header_cells]


def _names_required(columns: list[str | None]) -> bool:
    return all(f in columns for f in REQUIRED)


def _rows_of(header_cells: list[str], lines) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[str]]:
    """The fields, the rows and the ignored header cells from the header and (line, cells) below it."""
    columns = _columns(header_cells)
    if not _names_required(columns):
        raise ImportFileUnreadable(f"The first row must name the columns, with at least {', '.join(REQUIRED)}",
                                   field="file")
    rows = []
    for line, cells in lines:
        if not any(cell.strip() for cell in cells):
            continue
        data = {}
        for field, cell in zip(columns, cells):
            if field and cell.strip() and field not in data:
                data[field] = cell.strip()
        rows.append((line, data))
    if not rows:
        raise ImportFileUnreadable("The file has no rows below its header.", field="file")
    ignored = [cell for cell, field in zip(header_cells, columns) if field is None and cell.strip()]
    return [f for f in columns if f], rows, ignored


def _xlsx_lines(content: bytes) -> tuple[str, list[str], list[tuple[int, list[str]]]]:
    """(the sheet's name, its header cells, (row number, cells) below) of the first sheet whose first row names
    the columns, the cells as text as a CSV export would write them."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises zip, XML and key errors alike for a broken file
        raise ImportFileUnreadable("The file cannot be read as an Excel workbook (.xlsx).", field="file") from None
    try:
        names = ", ".join(sheet.title for sheet in book.worksheets)
        for sheet in book.worksheets:
            rows = sheet.iter_rows(max_col=MAX_XLSX_COLUMNS, values_only=True)
            header = [_xlsx_text(value) for value in next(rows, ())]
            if not _names_required(_columns(header)):
                continue
            lines = []
            for number, values in enumerate(rows, start=2):
                if number > MAX_XLSX_ROWS + 1:
                    raise ImportFileUnreadable(f"The sheet {sheet.title} has more than {MAX_XLSX_ROWS:,} rows: "
                                               "split it.", field="file")
                lines.append((number, [_xlsx_text(value) for value in values]))
            return sheet.title, header, lines
    except ImportFileUnreadable:
        raise
    except Exception:
        raise ImportFileUnreadable("The file cannot be read as an Excel workbook (.xlsx).", field="file") from None
    finally:
        book.close()
    raise ImportFileUnreadable(f"No sheet of the workbook ({names}) has a first row naming the columns, with at "
                               f"least {', '.join(REQUIRED)}", field="file")


def _xlsx_text(value) -> str:
    """A cell as text: dates as YYYY-MM-DD (with the time when it has one), whole numbers without “.0”."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _spelling(cell: str) -> str:
    return "".join(c for c in cell.strip().lower() if c not in " _-")


def _problems(session: Session, organization_id: int, rows: list[tuple[int, dict[str, str]]]) -> dict[int, str]:
    """line -> the first rule the row breaks (see the module docstring)."""
    problems: dict[int, str] = {}
    first_seen: dict[tuple[str, str], int] = {}
    for line, data in rows:
        problem = _row_problem(data)
        if problem is None:
            keys = list(_keys(data))
            problem = next((f"{field} {value} is also on line {first_seen[(field, value)]}"
                            for field, value in keys if (field, value) in first_seen), None)
            for key in keys:
                first_seen.setdefault(key, line)
        if problem:
            problems[line] = problem
    taken = _taken_now(session, organization_id, [data for line, data in rows if line not in problems])
    for line, data in rows:
        if line not in problems:
            problem = next((f"{field} {value} is already in use by a member" for field, value in _keys(data)
                            if (field, value) in taken), None)
            if problem:
                problems[line] = problem
    return problems


def _row_problem(data: dict[str, str]) -> str | None:
    missing = [field for field in REQUIRED if not data.get(field)]
    if missing:
        return f"{missing[0]} is required"
    try:
        members.build_member(0, profile=_profile(data))
    except DomainError as error:
        return error.message
    card_code = data.get("cardCode")
    if card_code and not members.is_valid_card_code(card_code):
        return f"cardCode {card_code} is not a valid card code (check character)"
    if len(data.get("loyaltyMemberId", "")) > 100:
        return "loyaltyMemberId is longer than 100 characters"
    return None


def _profile(data: dict[str, str]) -> dict[str, Any]:
    return {field: data[field] for field in members.PROFILE_FIELDS if field in data}


def _keys(data: dict[str, str]):
    """The row's values that must be unique, as (field, normalised value)."""
    if data.get("email"):
        yield "email", data["email"].strip().lower()
    if data.get("loyaltyMemberId"):
        yield "loyaltyMemberId", data["loyaltyMemberId"]
    if data.get("cardCode"):
        yield "cardCode", members.normalise_code(CARDCODE, data["cardCode"])


def _taken_now(session: Session, organization_id: int, rows: list[dict[str, str]]) -> set[tuple[str, str]]:
    """The (field, value) pairs of these rows already held by a member of the organisation."""
    wanted: dict[str, list[str]] = {"email": [], "loyaltyMemberId": [], "cardCode": []}
    for data in rows:
        for field, value in _keys(data):
            wanted[field].append(value)
    taken = members.taken_keys(session, organization_id, emails=wanted["email"],
                               loyalty_member_ids=wanted["loyaltyMemberId"], card_codes=wanted["cardCode"])
    return {(field, value) for field, values in taken.items() for value in values}
