"""The command-line tools: orgs create, staff create and set-password, demo load (once)."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from portal.domain import staff
from portal.domain.members import Member
from portal.domain.organizations import LoyaltyProgram, Organization
from portal.domain.passwords import verify_password
from tests import factories


def test_orgs_create_prints_one_json_line_with_a_working_key(app, session, client):
    result = app.test_cli_runner().invoke(args=["orgs", "create", "--name", "Acme"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {"organizationId", "loyaltyProgramId", "apiKey"}
    assert session.get(Organization, data["organizationId"]).name == "Acme"
    assert session.get(LoyaltyProgram, data["loyaltyProgramId"]).organization_id == data["organizationId"]
    response = client.get(f"/api/v1/organizations/{data['organizationId']}/members",
                          headers={"Authorization": f"Bearer {data['apiKey']}"})
    assert response.status_code == 200 and response.json["totalCount"] == 0


def test_orgs_create_with_a_timezone(app, session):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["orgs", "create", "--name", "Berliner", "--timezone", "Europe/Berlin"])
    assert made.exit_code == 0, made.output
    assert session.get(Organization, json.loads(made.output)["organizationId"]).timezone == "Europe/Berlin"
    wrong = runner.invoke(args=["orgs", "create", "--name", "Nowhere", "--timezone", "Mars/Olympus"])
    assert wrong.exit_code != 0 and "timezone" in wrong.output
    assert session.scalar(select(func.count()).select_from(Organization).where(Organization.name == "Nowhere")) == 0


def test_staff_create_and_its_errors(app, session, org):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["staff", "create", "--org", str(org.id), "--email", "Boss@Example.com", "--role",
                             "admin", "--password", "long-enough-1"])
    assert ok.exit_code == 0, ok.output
    user = session.scalars(select(staff.StaffUser).where(staff.StaffUser.email == "boss@example.com")).one()
    assert user.roles == ["admin"] and user.password_hash.startswith("$argon2id$")
    weak = runner.invoke(args=["staff", "create", "--org", str(org.id), "--email", "b@example.com", "--role",
                               "admin", "--password", "short"])
    assert weak.exit_code != 0 and "password" in weak.output
    bad_role = runner.invoke(args=["staff", "create", "--org", str(org.id), "--email", "c@example.com", "--role",
                                   "root", "--password", "long-enough-1"])
    assert bad_role.exit_code != 0 and "roles" in bad_role.output


def test_staff_set_password_names_the_organisation_when_the_email_is_in_several(app, session, org, other_org):
    here = factories.make_staff(session, org, email="both@example.com")
    there = factories.make_staff(session, other_org, email="both@example.com")
    session.commit()
    runner = app.test_cli_runner()
    ambiguous = runner.invoke(args=["staff", "set-password", "--email", "both@example.com",
                                    "--password", "new-password-1"])
    assert ambiguous.exit_code != 0 and "several organisations" in ambiguous.output
    ok = runner.invoke(args=["staff", "set-password", "--email", "both@example.com", "--org", str(other_org.id),
                             "--password", "new-password-1"])
    assert ok.exit_code == 0, ok.output
    session.expire_all()
    assert verify_password(session.get(staff.StaffUser, there.id).password_hash, "new-password-1")
    assert not verify_password(session.get(staff.StaffUser, here.id).password_hash, "new-password-1")


def test_the_demo_loads_once_and_gives_every_report_a_year_of_history(app, session):
    """One test, so the demo (a year of a few hundred members' activity) is loaded once per backend."""
    import datetime as dt

    from portal.domain import reports
    from portal.domain.campaigns import Campaign
    from portal.domain.coupons import CouponBook, CouponUsage
    from portal.domain.organizations import Organization

    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0 and "Demo data loaded" in first.output and "admin@demo.example" in first.output
    org = session.scalars(select(Organization).where(Organization.name == "Demo Coffee Co.")).one()
    members = session.scalar(select(func.count()).select_from(Member).where(Member.organization_id == org.id))
    assert members >= 200
    codes = set(session.scalars(select(Campaign.code).where(Campaign.organization_id == org.id)))
    assert {"EVERY-EURO", "DOUBLE-SATURDAY", "BIRTHDAY-BONUS", "WELCOME-COUPON"} <= codes
    welcome = session.scalars(select(CouponBook).where(CouponBook.organization_id == org.id,
                                                       CouponBook.name == "Welcome drink")).one()
    assert session.scalar(select(func.count()).select_from(CouponUsage)
                          .where(CouponUsage.book_id == welcome.id)) >= 200  # every enrolled shopper got one
    now = dt.datetime.now(dt.timezone.utc)
    year = reports.Range(now - dt.timedelta(days=365), now, reports.MONTH, org.timezone)
    for name in reports.REPORTS:
        report = reports.build_report(session, org.id, name, year)
        assert any(report.totals.values()), name
    minted = [row.values["minted"] for row in reports.build_report(session, org.id, "points", year).rows]
    assert sum(1 for value in minted if value) >= 6  # spread over the months, not all today

    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0 and "already present" in second.output
    assert session.scalar(select(func.count()).select_from(Member).where(Member.organization_id == org.id)) == members
