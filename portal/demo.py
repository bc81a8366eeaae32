"""Demo data for `make run`: one organisation with members, points history and tiers, and a year of
shop life behind it for the reports.

Loaded once: a second run finds the demo organisation and changes nothing.
"""
from __future__ import annotations

import datetime as dt
import random
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .domain import members, organizations, points, staff, tiers
from .domain.actors import system_actor
from .domain.base import utcnow
from .domain.ledger import LedgerAccount, Reason
from .domain.organizations import Organization

DEMO_ORG = "Demo Coffee Co."
DEMO_STAFF_EMAIL = "admin@demo.example"
DEMO_STAFF_PASSWORD = "demo-admin-2026"
DEMO_MEMBER_EMAIL = "anna.schmidt@demo.example"
DEMO_MEMBER_PASSWORD = "demo-member-2026"

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
    org, program = organizations.create_organization(session, DEMO_ORG, timezone="Europe/Berlin")
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
    _load_coupons(session, org.id, actor)
    _load_missions_and_referrals(session, org.id, actor)
    _load_member_logins(session, org.id)
    _load_history(session, org.id, actor)
    return _login_text(org.id, loaded=True)


def _login_text(organization_id: int, loaded: bool) -> str:
    state = "Demo data loaded" if loaded else "Demo data already present"
    return (f"{state}: organisation {organization_id}.\n"
            f"  Staff console: /console/  login {DEMO_STAFF_EMAIL} / {DEMO_STAFF_PASSWORD}\n"
            f"  Member portal: /  login {DEMO_MEMBER_EMAIL} / {DEMO_MEMBER_PASSWORD}"
            " (mail is written to this log while MAIL_SERVER is empty)")


def _load_coupons(session: Session, organization_id: int, actor) -> None:
    """Published coupon books, a code pool, and a few coupons held and used by the first members."""
    from .domain import coupons
    from .domain.members import Member

    people = list(session.scalars(select(Member).where(Member.organization_id == organization_id)
                                  .order_by(Member.id)))
    gold = session.scalars(select(tiers.Tier).where(tiers.Tier.organization_id == organization_id,
                                                    tiers.Tier.name == "Gold")).first()
    published = coupons.PUBLISHED
    coffee = coupons.create_book(
        session, organization_id, actor=actor, name="Free coffee", type=coupons.REWARD, publishing_status=published,
        usage_required_points=100, external_reference="FREE-COFFEE", tags=["coffee", "reward"], ranking_index=10,
        i18n={"en": {"title": "Free coffee", "subtitle": "Any size", "description": "Swap 100 points for a coffee.",
                     "bookingText": "Free coffee"},
              "de": {"title": "Gratis Kaffee", "subtitle": "Jede Größe",
                     "description": "Tausche 100 Punkte gegen einen Kaffee.", "bookingText": "Gratis Kaffee"}})
    ten_off = coupons.create_book(
        session, organization_id, actor=actor, name="10 % off", type=coupons.DISCOUNT, publishing_status=published,
        discount_type=coupons.PERCENTAGE, discount_amount=10, activatable=True, max_assigned_per_member=1,
        max_coupon_count=500, external_reference="PRICE-RULE-10", tags=["discount"], ranking_index=8,
        i18n={"en": {"title": "10 % off your next order", "bookingText": "10 % discount"},
              "de": {"title": "10 % auf den nächsten Einkauf", "bookingText": "10 % Rabatt"}})
    coupons.generate_codes(session, ten_off, 50, actor=actor, prefix="TEN-")
    double = coupons.create_book(
        session, organization_id, actor=actor, name="Double points", type=coupons.MULTIPLIER,
        publishing_status=published, discount_amount=2, external_reference="X2", tags=["points"],
        i18n={"en": {"title": "Double points on your next purchase"},
              "de": {"title": "Doppelte Punkte beim nächsten Einkauf"}})
    bonus = coupons.create_book(
        session, organization_id, actor=actor, name="50 bonus points", type=coupons.EXTRAPOINT,
        publishing_status=published, discount_amount=50, condition={"minTotal": 20}, tags=["points"],
        i18n={"en": {"title": "50 bonus points from 20 EUR"}, "de": {"title": "50 Extrapunkte ab 20 EUR"}})
    coupons.create_book(
        session, organization_id, actor=actor, name="Gold lounge voucher", type=coupons.REWARD,
        publishing_status=published, tiers=[str(gold.id)] if gold else [], max_assigned_per_member=1,
        i18n={"en": {"title": "A drink in the Gold lounge"}, "de": {"title": "Ein Getränk in der Gold-Lounge"}})
    coupons.create_book(session, organization_id, actor=actor, name="Christmas special (draft)",
                        type=coupons.DISCOUNT, discount_type=coupons.FIXED, discount_amount=5)
    for index, person in enumerate(people[:6]):
        coupons.assign_coupons(session, person, ten_off, actor=actor)
        coupons.assign_coupons(session, person, double if index % 2 else bonus, actor=actor)
    coupons.set_activation(session, people[0], ten_off, True, actor=actor)
    coupons.use_coupon(session, people[0], ten_off, actor=actor,
                       place=coupons.Place(location_code="berlin-1", interaction_point="till-1"))
    richest = max(people, key=lambda p: points.balances(session, p)[0]["available"])
    if points.balances(session, richest)[0]["available"] >= coffee.usage_required_points:
        coupons.use_coupon(session, richest, coffee, actor=actor,
                           place=coupons.Place(location_code="berlin-1", interaction_point="till-2"))


def _load_missions_and_referrals(session: Session, organization_id: int, actor) -> None:
    """A stamp card, a monthly weekend mission, a review mission on a custom event, and a referral programme."""
    from .domain import earning, custom_events, missions, referrals
    from .domain.members import Member

    custom_events.create_event_type(session, organization_id, name="app-review-written", actor=actor,
                                     description="The member reviewed the app in a store")
    card = missions.create_mission(session, organization_id, actor=actor, name="Coffee card", kind="stampcard",
                                   code="COFFEE-CARD", event_type=earning.PURCHASE_CONFIRMED, goal_count=8,
                                   points_on_completion=200, description="A stamp per purchase; the 8th pays 200")
    missions.create_mission(session, organization_id, actor=actor, name="Weekend explorer", code="WEEKENDS",
                            event_type=earning.PURCHASE_CONFIRMED, goal_count=3, points_on_completion=150,
                            matcher='order.weekday in ["saturday", "sunday"]', repetition_period="month",
                            period_limit=1, description="Three weekend purchases in a month")
    missions.create_mission(session, organization_id, actor=actor, name="Review us", code="REVIEW",
                            event_type="app-review-written", goal_count=1, max_repetitions=1,
                            points_on_completion=50)
    program = referrals.create_program(session, organization_id, actor=actor, name="Bring a friend",
                                       referrer_points=250, referred_points=100, max_referrals_per_member=10,
                                       event_type=earning.PURCHASE_CONFIRMED)
    first, second = session.scalars(select(Member).where(Member.organization_id == organization_id)
                                    .order_by(Member.id).limit(2)).all()
    missions.increment(session, first, card, 5, actor=actor)
    code = referrals.create_code(session, program, first, actor=actor)
    referrals.attach_referral(session, second, code.code, actor=actor)


def _load_member_logins(session: Session, organization_id: int) -> None:
    """Anna can log in to the member portal; the German-speaking Ben sees it in German."""
    from .domain.members import Member
    from .domain.passwords import hash_password

    for email, locale in ((DEMO_MEMBER_EMAIL, "en"), ("ben.mueller@demo.example", "de")):
        person = session.scalars(select(Member).where(Member.organization_id == organization_id,
                                                      Member.email == email)).first()
        if person is not None:
            person.password_hash = hash_password(DEMO_MEMBER_PASSWORD)
            person.locale = locale
    session.flush()


# --- a year of history for the reports ----------------------------------------------------------------

HISTORY_MEMBERS = 200  # each order runs the earning engine (~15 ms): more would slow the first `make run`
HISTORY_DAYS = 365


def _load_history(session: Session, organization_id: int, actor) -> None:
    """Members joining over the past year, a point per euro on their purchases, free coffees taken, coffee
    cards filled, discounts used, some friends brought along. Every step goes through the domain and its
    rows are then dated back to when it happened, so each report and the dashboard's week show something on
    the first start."""
    from .domain import campaigns, coupons, earning, enrolment, missions, orders, referrals
    from .domain.members import Member

    campaign = campaigns.create_campaign(session, organization_id, code="EVERY-EURO", name="A point per euro",
                                         actor=actor)
    campaigns.add_action(session, campaign, actor=actor, rules_text=["order.total > 0"],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    saturday = campaigns.create_campaign(session, organization_id, code="DOUBLE-SATURDAY", actor=actor,
                                         name="Double points on Saturdays", days_of_week=["saturday"],
                                         timezone="Europe/Berlin")
    campaigns.add_action(session, saturday, actor=actor, rules_text=["order.total > 0"],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    birthday = campaigns.create_campaign(session, organization_id, code="BIRTHDAY-BONUS", actor=actor,
                                         name="100 points on your birthday", event_type=earning.BIRTHDAY)
    campaigns.add_action(session, birthday, actor=actor, rules_text=[], effects=[{"type": "award_points", "points": 100}])
    welcome_drink = coupons.create_book(
        session, organization_id, actor=actor, name="Welcome drink", type=coupons.REWARD,
        publishing_status=coupons.PUBLISHED, max_assigned_per_member=1, tags=["welcome"],
        i18n={"en": {"title": "A welcome drink on us"}, "de": {"title": "Ein Willkommensgetränk aufs Haus"}})
    welcome = campaigns.create_campaign(session, organization_id, code="WELCOME-COUPON", actor=actor,
                                        name="A welcome drink for every new member", event_type=earning.MEMBER_CREATED)
    campaigns.add_action(session, welcome, actor=actor, rules_text=[],
                         effects=[{"type": "assign_coupon", "couponBookId": welcome_drink.id}])
    books = {book.name: book for book in session.scalars(
        select(coupons.CouponBook).where(coupons.CouponBook.organization_id == organization_id))}
    coffee, ten_off = books["Free coffee"], books["10 % off"]
    card = session.scalars(select(missions.Mission).where(missions.Mission.organization_id == organization_id,
                                                          missions.Mission.code == "COFFEE-CARD")).one()
    first = session.scalars(select(Member).where(Member.organization_id == organization_id)
                            .order_by(Member.id)).first()
    program = referrals.running_program(session, organization_id)
    code = referrals.ensure_code(session, program, first, actor=actor) if program else None
    rng = random.Random(2025)
    now = utcnow()
    for n in range(HISTORY_MEMBERS):
        # More people join as the year goes on; everyone shops a few times after joining.
        joined = now - dt.timedelta(days=HISTORY_DAYS * (1 - rng.random() ** 0.7), hours=rng.uniform(0, 10))
        given, family, city, zip_code = PEOPLE[n % len(PEOPLE)]
        with _dated(session, joined):
            # Enrolled as the portal does it: the referral code attached, the welcome coupon given.
            member, _ = enrolment.enrol_member(session, organization_id, actor=actor, profile={
                "email": f"shopper{n + 1}@demo.example", "givenName": given, "familyName": f"{family} {n + 1}",
                "city": city, "zipCode": zip_code, "countryCode": "DE"},
                referral_code=code.code if code is not None and n % 15 == 0 else None)
        visits = sorted(joined + (now - joined) * rng.random() for _ in range(rng.randint(1, 3)))
        for visit, moment in enumerate(visits):
            total = Decimal(rng.choice((4, 6, 9, 12, 18, 25, 40))) + Decimal(rng.randint(0, 99)) / 100
            with _dated(session, moment):
                orders.record_order(session, member, orders.OrderInput(
                    external_id=f"demo-history-{n}-{visit}", status=orders.CONFIRMED, total=total,
                    items=[orders.ItemInput(sku="COFFEE", quantity=1, unit_price=total,
                                            product_category_code="coffee")],
                    location_code=f"{city[:3].upper()}-1"), actor=actor)
        later = min(now, visits[-1] + dt.timedelta(days=rng.uniform(1, 20)))
        if points.balances(session, member)[0]["available"] >= coffee.usage_required_points:
            with _dated(session, later):
                coupons.use_coupon(session, member, coffee, actor=actor,
                                   place=coupons.Place(location_code="BER-1", interaction_point="till-1"))
        if n % 4 == 0:
            with _dated(session, later):  # the stamps of purchases before the card existed, given by hand
                missions.increment(session, member, card, card.goal_count, actor=actor)
        if n % 5 == 0:
            with _dated(session, visits[0]):
                coupons.assign_coupons(session, member, ten_off, actor=actor)
                coupons.set_activation(session, member, ten_off, True, actor=actor)
                coupons.use_coupon(session, member, ten_off, actor=actor)


@contextmanager
def _dated(session: Session, moment: dt.datetime):
    """Run a step through the domain, then move the times it wrote (now) back to `moment`."""
    from .domain.audit import AuditEntry
    from .domain.coupons import CouponUsage
    from .domain.ledger import LedgerEntry, LedgerTransaction
    from .domain.members import Member
    from .domain.orders import PurchaseOrder
    from .domain.outbox import OutboxEvent
    from .domain.referrals import Referral
    from .domain.tiers import TierHistory

    started = utcnow()
    yield
    session.flush()
    for column in (Member.created_at, LedgerTransaction.created_at, LedgerEntry.created_at, OutboxEvent.created_at,
                   TierHistory.created_at, CouponUsage.created_at, CouponUsage.used_at, PurchaseOrder.created_at,
                   PurchaseOrder.confirmed_at, Referral.created_at, Referral.completed_at, AuditEntry.created_at):
        session.execute(update(column.class_).where(column >= started).values({column.key: moment})
                        .execution_options(synchronize_session=False))
