"""The jobs API: imports and grants with their counts and reports, each kind read with its own role."""
from __future__ import annotations

from portal.domain import audiences
from portal.domain.bulk import jobs, member_import, points_grant
from tests import factories


def seed_jobs(session, org):
    imported = member_import.check_file(session, org.id, "people.csv",
                                        b"email,givenName\na@example.com,Ann\nnope,Bad\n", actor=org.actor)
    member_import.confirm(session, imported, actor=org.actor)
    while jobs.run_next_batch(session):
        pass
    audience = audiences.create_audience(session, org.id, name="All", actor=org.actor, rule="true")
    grant = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=9, reason="Hi", key="hi",
                                     actor=org.actor)
    return imported, grant


def test_jobs_list_and_one_job_with_counts_and_report(api, session, org):
    imported, grant = seed_jobs(session, org)
    response = api.get("/jobs")
    assert response.status_code == 200
    body = response.get_json()
    assert body["totalCount"] == 2 and [j["id"] for j in body["results"]] == [grant.id, imported.id]
    one = api.get(f"/jobs/{imported.id}").get_json()["job"]
    assert one["kind"] == "member-import" and one["status"] == "done" and one["startedBy"] == org.actor.label
    assert (one["total"], one["done"], one["created"], one["refused"]) == (2, 2, 1, 1)
    assert one["params"]["fileName"] == "people.csv"


def test_each_kind_needs_its_read_role(api, session, org):
    imported, grant = seed_jobs(session, org)
    members_reader = api.as_(factories.make_key(session, org, ["members:read"]))
    listed = members_reader.get("/jobs").get_json()["results"]
    assert [j["id"] for j in listed] == [imported.id]
    assert members_reader.get(f"/jobs/{grant.id}").status_code == 403
    ledgers_reader = api.as_(factories.make_key(session, org, ["ledgers:read"]))
    assert [j["id"] for j in ledgers_reader.get("/jobs").get_json()["results"]] == [grant.id]
    assert ledgers_reader.get(f"/jobs/{imported.id}").status_code == 403
    neither = api.as_(factories.make_key(session, org, ["coupons:read"]))
    assert neither.get("/jobs").status_code == 403


def test_another_organisations_job_is_not_found(api, session, org, other_org):
    imported, _ = seed_jobs(session, other_org)
    response = api.get(f"/jobs/{imported.id}")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
