"""Console bulk jobs: import members (upload, check, refused rows and their CSV, confirm, progress), grant
points to an audience, the jobs page, and who may do what."""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
from sqlalchemy import func, select

from portal.domain import audiences
from portal.domain.bulk import jobs
from portal.domain.bulk.jobs import BulkJob
from portal.domain.members import Member
from tests import factories

HEADER = "email,givenName,familyName,birthDate\n"


def upload(console, text: str, name: str = "people.csv"):
    return console.post("/console/imports/new", {"file": (io.BytesIO(text.encode()), name)},
                        content_type="multipart/form-data")


def only_job(session) -> BulkJob:
    return session.scalars(select(BulkJob)).one()


def run_worker(session):
    while jobs.run_next_batch(session, batch_size=3):
        session.flush()


def member_count(session, org) -> int:
    return session.scalar(select(func.count()).select_from(Member).where(Member.organization_id == org.id))


def test_upload_check_refused_rows_confirm_and_progress(console, signed_in, session, org):
    factories.make_member(session, org, email="known@example.com")
    session.flush()  # written before the requests: a GET may not write (db.writes_on_read)
    rows = [f"p{i}@example.com,Ann,Person{i},1980-05-0{1 + i}" for i in range(5)]
    rows += ["bad-email,Bad,Row,", "known@example.com,Known,Row,", "p9@example.com,Bad,Date,1980-02-30"]
    response = upload(console, HEADER + "\n".join(rows) + "\n")
    assert response.status_code == 302
    job = only_job(session)
    assert response.headers["Location"].endswith(f"/console/jobs/{job.id}")
    assert member_count(session, org) == 1  # checked, nobody created yet

    page = console.get(f"/console/jobs/{job.id}").get_data(as_text=True)
    assert "Waiting for confirmation" in page and "5 of 8 rows can be imported" in page
    assert 'data-line="7"' in page and "Not a valid email address" in page
    assert "known@example.com is already in use by a member" in page and "birthDate must be YYYY-MM-DD" in page

    csv_response = console.get(f"/console/jobs/{job.id}/refused.csv")
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    assert "attachment" in csv_response.headers["Content-Disposition"]
    lines = csv_response.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 4 and lines[1].startswith("7,bad-email,Bad,Row") and lines[1].endswith("Not a valid email address")

    response = console.post(f"/console/jobs/{job.id}/confirm")
    assert response.status_code == 302
    session.refresh(job)
    assert job.status == jobs.QUEUED
    queued = console.get(f"/console/jobs/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in queued and 'id="job-progress-bar"' in queued and "<html" not in queued
    assert 'hx-trigger="every 2s"' in console.get("/console/jobs").get_data(as_text=True)  # the list polls too

    run_worker(session)
    done = console.get(f"/console/jobs/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'value="100"' in done and "5 members created, 3 rows refused" in done
    assert "every 1s" not in done  # the polling stops
    assert member_count(session, org) == 6

    listing = console.get("/console/jobs").get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in listing and signed_in.email in listing and "people.csv" in listing
    assert "every 2s" not in listing

    # The same file again: its job, and nobody twice.
    again = upload(console, HEADER + "\n".join(rows) + "\n", name="again.csv")
    assert again.headers["Location"].endswith(f"/console/jobs/{job.id}")
    refused = console.post(f"/console/jobs/{job.id}/confirm")
    assert refused.status_code == 422 and "The job is done, not waiting for confirmation" in refused.get_data(as_text=True)
    assert member_count(session, org) == 6


def test_an_unreadable_file_is_an_error_on_the_field(console, signed_in, session):
    response = upload(console, "name,city\nAnn,Berlin\n")
    assert response.status_code == 422
    assert "at least email" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(BulkJob)) == 0


def test_an_excel_workbook_is_checked_and_imported_through_the_console(console, signed_in, session, org):
    book = openpyxl.Workbook()
    book.active.title = "Members"
    for row in (["email", "givenName", "birthDate"], ["xl1@example.com", "Ann", dt.datetime(1980, 5, 1)],
                ["not-an-email", "Bad", None], ["xl2@example.com", "Bea", None]):
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    response = console.post("/console/imports/new", {"file": (io.BytesIO(out.getvalue()), "people.xlsx")},
                            content_type="multipart/form-data")
    assert response.status_code == 302
    job = only_job(session)
    page = console.get(f"/console/jobs/{job.id}").get_data(as_text=True)
    assert "people.xlsx, sheet Members" in page and "2 of 3 rows can be imported" in page
    assert 'data-line="3"' in page and "Not a valid email address" in page
    assert console.post(f"/console/jobs/{job.id}/confirm").status_code == 302
    run_worker(session)
    names = dict(session.execute(select(Member.email, Member.birth_date).where(Member.organization_id == org.id)).all())
    assert names == {"xl1@example.com": dt.date(1980, 5, 1), "xl2@example.com": None}


def test_a_file_above_the_app_request_limit_is_accepted_by_the_import_form(console, signed_in, session, app):
    filler = ",".join(["x" * 40] * 4)
    rows = [f"big{i}@example.com,{filler}" for i in range(app.config["MAX_CONTENT_LENGTH"] // 150)]
    text = "email,a,b,c,d\n" + "\n".join(rows) + "\n"
    assert len(text) > app.config["MAX_CONTENT_LENGTH"]
    response = upload(console, text)
    assert response.status_code == 302, response.status_code
    assert only_job(session).total == len(rows)


def test_grant_points_to_an_audience_once(console, signed_in, session, org):
    people = [factories.make_member(session, org) for _ in range(3)]
    audience = audiences.create_audience(session, org.id, name="VIP", actor=org.actor, kind=audiences.LIST,
                                         member_ids=[p.id for p in people])
    session.commit()
    form = {"audience_id": audience.id, "amount": "40", "reason": "Thank you", "key": "thanks-1"}
    response = console.post("/console/grants/new", form)
    assert response.status_code == 302
    job = only_job(session)
    assert job.status == jobs.QUEUED and job.started_by_label == signed_in.email
    run_worker(session)
    page = console.get(f"/console/jobs/{job.id}").get_data(as_text=True)
    assert "3 members got 40 points each" in page and "120 points in all" in page
    # The same key again: the same job, nobody granted twice.
    assert console.post("/console/grants/new", form).headers["Location"].endswith(f"/console/jobs/{job.id}")
    assert jobs.claim(session) is None
    assert [factories.wallet_of(session, org, p).balance for p in people] == [40, 40, 40]
    reused = console.post("/console/grants/new", {**form, "amount": "50"})
    assert reused.status_code == 422 and "This key was used for another grant" in reused.get_data(as_text=True)


def test_grant_form_refuses_a_bad_amount_on_its_field(console, signed_in, session, org):
    audience = audiences.create_audience(session, org.id, name="All", actor=org.actor, rule="true")
    session.commit()
    response = console.post("/console/grants/new", {"audience_id": audience.id, "amount": "0", "reason": "x",
                                                    "key": "k"})
    assert response.status_code == 422 and "Amount must be positive" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(BulkJob)) == 0


# --- roles ---------------------------------------------------------------------------------------

def test_a_members_read_user_cannot_import_confirm_or_grant(console, sign_in_as, session, org):
    job = _checked_import(session, org)
    audience = audiences.create_audience(session, org.id, name="All", actor=org.actor, rule="true")
    session.commit()
    sign_in_as(["members:read"])
    assert console.get("/console/imports/new").status_code == 403
    assert upload(console, HEADER + "x@example.com,A,B,\n").status_code == 403
    assert console.post(f"/console/jobs/{job.id}/confirm").status_code == 403
    assert console.get("/console/grants/new").status_code == 403
    assert console.post("/console/grants/new", {"audience_id": audience.id, "amount": "5", "reason": "r",
                                                "key": "k"}).status_code == 403
    session.refresh(job)
    assert job.status == jobs.CHECKED and session.scalar(select(func.count()).select_from(BulkJob)) == 1
    # Reading is allowed: the jobs page, the job and its refused rows, without the buttons.
    listing = console.get("/console/jobs").get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in listing and "Import members</a>" not in listing
    detail = console.get(f"/console/jobs/{job.id}").get_data(as_text=True)
    assert 'id="confirm-import"' not in detail
    assert console.get(f"/console/jobs/{job.id}/refused.csv").status_code == 200


def test_grants_are_hidden_from_staff_without_ledgers_read(console, sign_in_as, session, org):
    audience = audiences.create_audience(session, org.id, name="All", actor=org.actor, rule="true")
    from portal.domain.bulk import points_grant
    grant = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=5, reason="r", key="k",
                                     actor=org.actor)
    session.commit()
    sign_in_as(["members:read"])
    assert f'data-job-id="{grant.id}"' not in console.get("/console/jobs").get_data(as_text=True)
    assert console.get(f"/console/jobs/{grant.id}").status_code == 403


def test_a_ledgers_write_user_grants_but_cannot_import(console, sign_in_as, session, org):
    sign_in_as(["ledgers:write", "ledgers:read"])
    assert console.get("/console/grants/new").status_code == 200
    assert console.get("/console/imports/new").status_code == 403


def test_no_role_for_either_kind_cannot_open_the_jobs_page(console, sign_in_as):
    sign_in_as(["coupons:read"])
    assert console.get("/console/jobs").status_code == 403


def test_another_organisations_job_is_not_found(console, signed_in, session, other_org):
    job = _checked_import(session, other_org)
    session.commit()
    assert console.get(f"/console/jobs/{job.id}").status_code == 404
    assert console.post(f"/console/jobs/{job.id}/confirm").status_code == 404
    assert console.get(f"/console/jobs/{job.id}/refused.csv").status_code == 404
    assert console.get("/console/jobs/99999999999999999999").status_code == 404
    session.refresh(job)
    assert job.status == jobs.CHECKED  # not confirmed by the refused post


def _checked_import(session, org):
    from portal.domain.bulk import member_import
    return member_import.check_file(session, org.id, "a.csv", (HEADER + "a@example.com,A,B,\nbad,B,C,\n").encode(),
                                    actor=org.actor)
