"""Plain factory functions for tests (no HTTP)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.domain import campaigns, ledger, members, organizations, staff, tiers
from portal.domain.actors import system_actor
from portal.domain.ledger import LedgerAccount

_seq = itertools.count(1)


def count(session, model, *where) -> int:
    """Rows of `model` (matching `where`) in the database, the session's pending writes included."""
    session.flush()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def first(session, model, *where):
    """The first row of `model` matching `where`, or None."""
    return session.scalars(select(model).where(*where)).first()


@dataclass
class OrgBundle:
    id: int
    org: organizations.Organization
    program: organizations.LoyaltyProgram
    api_key: str
    actor: object

    @property
    def points_account_id(self) -> int:
        return self.program.points_account_id


def make_org(session, name: str = "Acme") -> OrgBundle:
    org, program = organizations.create_organization(session, f"{name} {next(_seq)}")
    actor = system_actor(org.id, "test")
    _, secret = staff.create_api_key(session, org.id, name="test", roles=["admin"], actor=actor)
    session.flush()
    return OrgBundle(id=org.id, org=org, program=program, api_key=secret, actor=actor)


def make_key(session, bundle: OrgBundle, roles: list[str]) -> str:
    _, secret = staff.create_api_key(session, bundle.id, name="limited", roles=roles, actor=bundle.actor)
    session.flush()
    return secret


def make_member(session, bundle: OrgBundle, **profile) -> members.Member:
    n = next(_seq)
    profile.setdefault("email", f"member{n}@example.com")
    profile.setdefault("givenName", "Test")
    profile.setdefault("familyName", f"Member{n}")
    return members.create_member(session, bundle.id, actor=bundle.actor, profile=profile)


def points_account(session, bundle: OrgBundle) -> LedgerAccount:
    return session.get(LedgerAccount, bundle.program.points_account_id)


def wallet_of(session, bundle: OrgBundle, member) -> ledger.Wallet:
    return ledger.member_wallet(session, points_account(session, bundle), member.id)


def give_points(session, bundle: OrgBundle, member, amount: int):
    return ledger.mint(session, points_account(session, bundle), wallet_of(session, bundle, member), amount,
                       actor=bundle.actor)


def make_tiers(session, bundle: OrgBundle):
    return [tiers.create_tier(session, bundle.program, name=name, min_points=p, actor=bundle.actor)
            for name, p in (("Bronze", 0), ("Silver", 500), ("Gold", 1500))]


def make_book(session, bundle: OrgBundle, **fields):
    """A coupon book of the organisation: by default a published reward, "Free coffee"."""
    from portal.domain import coupons

    fields.setdefault("name", "Free coffee")
    fields.setdefault("type", coupons.REWARD)
    fields.setdefault("publishing_status", coupons.PUBLISHED)
    return coupons.create_book(session, bundle.id, actor=bundle.actor, **fields)


def published_book(session, bundle: OrgBundle, name: str, type: str, **fields):
    """A published coupon book of the organisation (`type`: coupons.REWARD, EXTRAPOINT...)."""
    return make_book(session, bundle, name=name, type=type, **fields)


def gift_campaign(session, bundle: OrgBundle, *books, rule: str | None = None):
    """A campaign whose one action gives a coupon of each book on a purchase (on those matching `rule`)."""
    campaign = campaigns.create_campaign(session, bundle.id, code="GIFT", name="Gift", actor=bundle.actor)
    campaigns.add_action(session, campaign, actor=bundle.actor, rules_text=[rule] if rule else [],
                         effects=[{"type": "assign_coupon", "couponBookId": book.id} for book in books])
    return campaign


def gift_once_per_member(session, bundle: OrgBundle, name: str, type: str, **fields):
    """A published book whose coupon a purchase gives (`gift_campaign`), one to a member at most."""
    book = published_book(session, bundle, name, type, max_assigned_per_member=1, **fields)
    gift_campaign(session, bundle, book)
    return book


def make_staff(session, bundle: OrgBundle, roles=("admin",), email=None, password="correct-horse-9"):
    return staff.create_staff_user(session, bundle.id, email=email or f"staff{next(_seq)}@example.com",
                                   password=password, roles=list(roles), actor=bundle.actor)


def make_partner_app(session, bundle: OrgBundle, **fields):
    """A confidential partner app allowed every scope; returns (app, client secret)."""
    from portal.domain import partners

    fields.setdefault("auth_redirect_url", "https://partner.example/callback")
    fields.setdefault("auth_valid_scopes", list(partners.SCOPES))
    return partners.create_app(session, bundle.id, actor=bundle.actor, name=fields.pop("name", "Partner"), **fields)


def member_token(session, app, member, scope: str) -> str:
    """An access token `member` granted `app` with `scope` (as the token endpoint would store it)."""
    import secrets

    from portal.domain import partners

    raw = secrets.token_urlsafe(32)
    partners.issue_token(session, app, grant_type=partners.CODE_GRANT, access_token=raw, scope=scope, member=member,
                         refresh_token=secrets.token_urlsafe(32))
    session.flush()
    return raw


def audience_pairs(session, bundle: OrgBundle, first: int, pairs: int, listed: list[int]) -> None:
    """`pairs` pairs of audiences, numbered from `first`: a rule audience of Berliners and a list of `listed`."""
    from portal.domain import audiences

    for n in range(first, first + pairs):
        audiences.create_audience(session, bundle.id, name=f"Berliners {n}", rule='member.city == "Berlin"',
                                  actor=bundle.actor)
        audiences.create_audience(session, bundle.id, name=f"Listed {n}", kind=audiences.LIST, member_ids=listed,
                                  actor=bundle.actor)
    session.commit()
