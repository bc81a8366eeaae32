"""Demo data for `make run`: one organisation with members, points history and tiers.

Loaded once: a second run finds the demo organisation and changes nothing.
"""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from .domain import members, organizations, points, staff, tiers
from .domain.actors import system_actor
from .domain.ledger import LedgerAccount, Reason
from .domain.organizations import Organization

DEMO_ORG = "Demo Coffee Co."
DEMO_STAFF_EMAIL = "admin@demo.example"
DEMO_STAFF_PASSWORD = "demo-admin-2026"

PEOPLE = [("Anna", "Schmidt", "Berlin", "10115"), ("Ben", "Müller", "Hamburg", "20095"),
          ("Clara", "Weber", "München", "80331"), ("David", "Fischer", "Köln", "50667"),
          ("Emma", "Wagner", "Berlin", "10117"), ("Felix", "Becker", "Frankfurt", "60311"),
          ("Greta", "Hoffmann", "Stuttgart", "70173"), ("Hannah", "Schulz", "Hamburg", "20099"),
          ("Jonas", "Koch", "Leipzig", "04109"), ("Lena", "Richter", "Dresden", "01067"),
          ("Maximilian", "Klein", "Berlin", "10119"), ("Mia", "Wolf", "Bremen", "28195"),
          ("Noah", "Neumann", "Hannover", "30159"), ("Paula", "Schwarz", "Nürnberg", "90402"),
          ("Paul", "Zimmermann", "Bonn", "53111"), ("Sophie", "Braun", "Berlin", "10178")]


def load(session: Session) -> str:
    existing = session.scalars(select(Organization).where(Organization.name == DEMO_ORG)).first()
    if existing is not None:
        return _login_text(existing.id, loaded=False)
    org, program = organizations.create_organization(session, DEMO_ORG)
    actor = system_actor(org.id, "demo")
    for name, threshold, color in (("Bronze", 0, "#b08d57"), ("Silver", 500, "#9ea7ad"), ("Gold", 1500, "#d4af37")):
        tiers.create_tier(session, program, name=name, min_points=threshold, actor=actor, color=color)
    staff.create_staff_user(session, org.id, email=DEMO_STAFF_EMAIL, password=DEMO_STAFF_PASSWORD, roles=["admin"],
                            actor=actor, name="Demo Admin")
    tier_account = session.get(LedgerAccount, program.tier_points_account_id)
    rng = random.Random(2026)
    for index, (given, family, city, zip_code) in enumerate(PEOPLE):
        member = members.create_member(session, org.id, actor=actor, profile={
            "email": f"{given.lower()}.{family.lower().replace('ü', 'ue')}@demo.example", "givenName": given,
            "familyName": family, "city": city, "zipCode": zip_code, "countryCode": "DE",
            "birthDate": dt.date(1970 + index * 2, 1 + index % 12, 1 + index).isoformat()})
        for visit in range(rng.randint(2, 8)):
            earned = rng.choice((40, 60, 85, 120, 250))
            reason = Reason(description=f"Purchase at {city} store", tags=["purchase"],
                            external_id=f"demo-{member.id}-{visit}")
            points.mint_to_member(session, member, earned, actor=actor, reason=reason)
            points.mint_to_member(session, member, earned * (3 if index % 5 == 0 else 1), actor=actor,
                                  reason=reason, account_id=tier_account.id)
        if index % 3 == 0:
            points.burn_from_member(session, member, 50, actor=actor,
                                    reason=Reason(description="Free coffee", tags=["reward"]))
    return _login_text(org.id, loaded=True)


def _login_text(organization_id: int, loaded: bool) -> str:
    state = "Demo data loaded" if loaded else "Demo data already present"
    return (f"{state}: organisation {organization_id}.\n"
            f"  Staff console: /console/  login {DEMO_STAFF_EMAIL} / {DEMO_STAFF_PASSWORD}")
