"""Members, their identifiers and search.

Invariants:
- `loyalty_member_id` is unique per organisation; an email belongs to at most
  one member per organisation (stored lower-case).
- Identifier codes are unique per (organisation, type); every member gets a
  CARDCODE at creation: unambiguous characters with a check character
  (weighted mod 31) that catches every single typo and adjacent swap.
- Only ACTIVE and active members earn or burn (the ledger asks `Member.can_move_points`).
- An erased member keeps their id, wallets and ledger; their personal data is gone.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, and_, bindparam, func, or_,
                        select)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import operators

from . import audit, outbox
from .actors import Actor
from .base import Base, OwnedRow, add_unique, assign_given, fits_id, get_owned, unique_where, utcnow
from .errors import DuplicateValue, NotFound, ValidationFailed
from .pagination import Page, ReachedCaps, check_page, count_statement, total_of, where_given, within

ACTIVE, LOCKED = "ACTIVE", "LOCKED"
ACCOUNT_STATUSES = (ACTIVE, LOCKED)
# Attribute names -> the names the API and the audit log give them, where they differ.
API_NAMES = {"member_type": "memberType", "account_status": "accountStatus"}
CARDCODE, APPCODE, EXTERNALCODE = "CARDCODE", "APPCODE", "EXTERNALCODE"
IDENTIFIER_TYPES = (CARDCODE, APPCODE, EXTERNALCODE)
# No 0/O, 1/I/L: codes are read aloud and typed at tills.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CARDCODE_LENGTH = 10
PROFILE_FIELDS = ("email", "givenName", "familyName", "birthDate", "phone", "street", "city", "zipCode",
                  "countryCode")


class Member(OwnedRow, Base):
    """A member of an organisation's programme, unique in it by `loyalty_member_id` (and email); their points move
    only while `active` and not LOCKED (`can_move_points`), and once erased (`erased_at`) only ids and ledger remain."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("organization_id", "loyalty_member_id"),
        unique_where("uq_members_org_email", "organization_id", "email", where="email IS NOT NULL"),
        Index("ix_members_org_created", "organization_id", "created_at"),
    )

    loyalty_member_id: Mapped[str] = mapped_column(String(100))
    member_type: Mapped[str] = mapped_column(String(50), default="individual")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    account_status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    given_name: Mapped[str] = mapped_column(String(100), default="")
    family_name: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    phone: Mapped[str] = mapped_column(String(50), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    zip_code: Mapped[str] = mapped_column(String(20), default="")
    country_code: Mapped[str] = mapped_column(String(2), default="")
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    optins: Mapped[dict[str, Any]] = mapped_column(default=dict)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    erased_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Bumped to end every member-portal session (sessions.py).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip() or self.loyalty_member_id

    @hybrid_property
    def can_move_points(self) -> bool:
        """Whether the member may move points: active, and the account ACTIVE. The one definition: on a member
        (Python) and in a query (`Member.can_move_points`, SQL: the ledger reads it with the wallets it locks)."""
        return bool(self.active) and self.account_status == ACTIVE

    @can_move_points.inplace.expression
    @classmethod
    def _can_move_points_sql(cls):
        return and_(cls.account_status == ACTIVE, cls.active)


class Identifier(OwnedRow, Base):
    """A code that finds a member at a till or in an app: the CARDCODE every member gets (with a check character),
    an APPCODE, or an EXTERNALCODE from another system; unique per organisation and type."""

    __tablename__ = "member_identifiers"
    __table_args__ = (UniqueConstraint("organization_id", "type", "code"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- card codes --------------------------------------------------------------

def check_character(payload: str) -> str:
    """The check character: a weighted sum modulo 31 over CODE_ALPHABET.

    Position i counted from the right (the check character is 1) weighs i.
    31 is prime and the weights 1..30 are distinct and non-zero modulo 31, so
    every single-character typo and every swap of two adjacent characters
    changes the sum and is caught. (Luhn mod N, used before, needs an even N and
    even then misses one swap; with our 31 characters it missed many typos.)
    """
    n = len(CODE_ALPHABET)
    if len(payload) + 1 >= n:
        raise ValueError("codes longer than 30 characters would repeat a weight")
    total = sum(weight * CODE_ALPHABET.index(char) for weight, char in enumerate(reversed(payload), start=2))
    return CODE_ALPHABET[-total % n]


def generate_card_code() -> str:
    payload = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CARDCODE_LENGTH - 1))
    return payload + check_character(payload)


def is_valid_card_code(code: str) -> bool:
    code = code.strip().upper()
    return (len(code) == CARDCODE_LENGTH and all(c in CODE_ALPHABET for c in code)
            and check_character(code[:-1]) == code[-1])


def normalise_code(id_type: str, code: str) -> str:
    code = code.strip()
    return code.upper() if id_type == CARDCODE else code


# --- creating and changing members ---------------------------------------------

def create_member(session: Session, organization_id: int, *, actor: Actor, profile: dict[str, Any] | None = None,
                  loyalty_member_id: str | None = None, member_type: str = "individual", active: bool = True,
                  custom_attributes: dict[str, Any] | None = None, locale: str | None = None,
                  optins: dict[str, Any] | None = None) -> Member:
    """Create a member with a generated CARDCODE. Raises DuplicateValue for a taken email or id."""
    member = build_member(organization_id, profile=profile, member_type=member_type, active=active,
                          custom_attributes=custom_attributes, locale=locale, optins=optins)
    _require_unique_email(session, organization_id, member.email)
    if loyalty_member_id:
        if session.scalar(select(Member.id).where(Member.organization_id == organization_id,
                                                  Member.loyalty_member_id == loyalty_member_id)):
            raise DuplicateValue("loyaltyMemberId is already in use", field="loyaltyMemberId")
        member.loyalty_member_id = loyalty_member_id
    else:
        member.loyalty_member_id = _unused(session, organization_id, _generate_loyalty_member_id,
                                           lambda code: select(Member.id).where(
                                               Member.organization_id == organization_id,
                                               Member.loyalty_member_id == code))
    session.add(member)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise DuplicateValue("A member with this email or loyaltyMemberId already exists",
                             field="profile.email") from None
    card_code = _unused(session, organization_id, generate_card_code, lambda code: select(Identifier.id).where(
        Identifier.organization_id == organization_id, Identifier.type == CARDCODE, Identifier.code == code))
    session.add(Identifier(organization_id=organization_id, member_id=member.id, type=CARDCODE, code=card_code))
    session.flush()
    audit.record(session, actor, "member.created", member)
    from . import outbox
    outbox.emit(session, organization_id, "member-created", member_id=member.id)
    return member


def build_member(organization_id: int, *, profile: dict[str, Any] | None = None, member_type: str = "individual",
                 active: bool = True, custom_attributes: dict[str, Any] | None = None, locale: str | None = None,
                 optins: dict[str, Any] | None = None) -> Member:
    """A new member not yet added to the session, its profile checked. Raises ValidationFailed."""
    member = Member(organization_id=organization_id, member_type=member_type, active=active,
                    custom_attributes=custom_attributes or {}, optins=optins or {}, locale=locale or "en")
    _apply_profile(member, profile or {})
    return member


def create_members(session: Session, organization_id: int, new_members: list[Member], card_codes: list[str | None],
                   *, actor: Actor) -> list[Member]:
    """Add many members built by `build_member` at once (bulk import): the rules of `create_member`, checked
    with one query per kind of value instead of one per member. `card_codes[i]` is member i's CARDCODE, or
    None for a generated one. Raises DuplicateValue when an email, loyaltyMemberId or card code is taken."""
    emails = [m.email for m in new_members if m.email]
    ids = [m.loyalty_member_id for m in new_members if m.loyalty_member_id]
    given_codes = [c for c in card_codes if c]
    taken = taken_keys(session, organization_id, emails=emails, loyalty_member_ids=ids, card_codes=given_codes)
    for key, field, values in (("email", "profile.email", emails), ("loyaltyMemberId", "loyaltyMemberId", ids)):
        if len(set(values)) < len(values) or taken[key]:
            raise DuplicateValue(f"{field} is already in use", field=field)
    if len(set(given_codes)) < len(given_codes) or taken["cardCode"]:
        raise DuplicateValue("This identifier is already in use", field="code")
    code_taken = select(Identifier.code).where(Identifier.organization_id == organization_id,
                                               Identifier.type == CARDCODE)
    without_id = [m for m in new_members if not m.loyalty_member_id]
    for member, value in zip(without_id, _unused_many(
            session, len(without_id), _generate_loyalty_member_id,
            select(Member.loyalty_member_id).where(Member.organization_id == organization_id),
            Member.loyalty_member_id)):
        member.loyalty_member_id = value
    generated = iter(_unused_many(session, sum(1 for c in card_codes if not c), generate_card_code, code_taken,
                                  Identifier.code, reserved=set(given_codes)))
    session.add_all(new_members)
    session.flush()
    session.add_all([Identifier(organization_id=organization_id, member_id=m.id, type=CARDCODE,
                                code=code or next(generated)) for m, code in zip(new_members, card_codes)])
    for member in new_members:
        audit.record(session, actor, "member.created", member)
        outbox.emit(session, organization_id, "member-created", member_id=member.id)
    session.flush()
    return new_members


def update_member(session: Session, member: Member, *, actor: Actor, profile: dict[str, Any] | None = None,
                  custom_attributes: dict[str, Any] | None = None, active: bool | None = None,
                  member_type: str | None = None, account_status: str | None = None,
                  loyalty_member_id: str | None = None, locale: str | None = None,
                  optins: dict[str, Any] | None = None, reason: str = "") -> Member:
    """Change what was given; leave the rest. Raises DuplicateValue, ValidationFailed."""
    _require_not_erased(member)
    changed: list[str] = []
    # No autoflush while changing: the uniqueness checks below must run before the UPDATE is sent.
    with session.no_autoflush:
        if profile:
            before_email = member.email
            _apply_profile(member, profile)
            if member.email != before_email:
                _require_unique_email(session, member.organization_id, member.email, exclude=member.id)
            changed += [f"profile.{k}" for k in profile]
        if custom_attributes is not None:
            # Merged into what is there; a key given as None is removed (as in a JSON merge patch).
            merged = {**member.custom_attributes, **custom_attributes}
            member.custom_attributes = {k: v for k, v in merged.items() if v is not None}
            changed.append("customAttributes")
        if account_status is not None and account_status not in ACCOUNT_STATUSES:
            raise ValidationFailed("accountStatus must be ACTIVE or LOCKED", field="accountStatus")
        changed += [API_NAMES.get(name, name) for name in
                    assign_given(member, active=active, member_type=member_type, account_status=account_status)]
        if loyalty_member_id and loyalty_member_id != member.loyalty_member_id:
            if session.scalar(select(Member.id).where(Member.organization_id == member.organization_id,
                                                      Member.loyalty_member_id == loyalty_member_id)):
                raise DuplicateValue("loyaltyMemberId is already in use", field="loyaltyMemberId")
            member.loyalty_member_id = loyalty_member_id
            changed.append("loyaltyMemberId")
        if locale is not None:
            member.locale = locale
            changed.append("locale")
        if optins is not None:
            member.optins = {**member.optins, **optins}
            changed.append("optins")
        member.updated_at = dt.datetime.now(dt.timezone.utc)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent request took the value between the check and the write
        raise DuplicateValue("A member with this email or loyaltyMemberId already exists",
                             field="profile.email" if "profile.email" in changed else "loyaltyMemberId") from None
    audit.record(session, actor, "member.updated", member, fields=changed, reason=reason)
    outbox.emit(session, member.organization_id, "member-updated", member_id=member.id, fields=changed)
    return member


def add_identifier(session: Session, member: Member, id_type: str, code: str, *, actor: Actor) -> Identifier:
    """Attach another identifier. Raises DuplicateValue when the code is taken in this organisation."""
    if id_type not in IDENTIFIER_TYPES:
        raise ValidationFailed(f"type must be one of {', '.join(IDENTIFIER_TYPES)}", field="type")
    code = normalise_code(id_type, code)
    if not code:
        raise ValidationFailed("code must not be empty", field="code")
    if id_type == CARDCODE and not is_valid_card_code(code):
        raise ValidationFailed("Not a valid card code (check digit)", field="code")
    identifier = Identifier(organization_id=member.organization_id, member_id=member.id, type=id_type, code=code)
    add_unique(session, identifier, DuplicateValue("This identifier is already in use", field="code"))
    audit.record(session, actor, "member.identifier_added", member, type=id_type)
    return identifier


def remove_identifier(session: Session, member: Member, identifier_id: int, *, actor: Actor) -> Identifier:
    """Detach one of the member's identifiers (a lost card, an old app code). Raises NotFound
    for an identifier of another member."""
    _require_not_erased(member)
    identifier = session.get(Identifier, identifier_id)
    if identifier is None or identifier.member_id != member.id:
        raise NotFound("Identifier not found", field="identifierId")
    session.delete(identifier)
    session.flush()
    audit.record(session, actor, "member.identifier_removed", member, type=identifier.type)
    return identifier


# --- finding members ----------------------------------------------------------------

def get_member(session: Session, organization_id: int, member_id: int) -> Member:
    return get_owned(session, Member, member_id, organization_id, what="Member", field="memberId")


def get_by_loyalty_member_id(session: Session, organization_id: int, loyalty_member_id: str) -> Member:
    return found_by_loyalty_member_id(session.scalars(
        BY_LOYALTY_MEMBER_ID, loyalty_member_params(organization_id, loyalty_member_id)).first())


# Built once: an organisation's member by loyaltyMemberId (its parameters: `loyalty_member_params`); a mint
# reads the member with more from it (points.member_by_loyalty_id).
BY_LOYALTY_MEMBER_ID = select(Member).where(Member.organization_id == bindparam("organization_id"),
                                            Member.loyalty_member_id == bindparam("loyalty_member_id"))


def loyalty_member_params(organization_id: int, loyalty_member_id: str) -> dict[str, Any]:
    return {"organization_id": organization_id, "loyalty_member_id": loyalty_member_id}


def found_by_loyalty_member_id(member: Member | None) -> Member:
    """The member `BY_LOYALTY_MEMBER_ID` found, else NotFound on loyaltyMemberId."""
    if member is None:
        raise NotFound("Member not found", field="loyaltyMemberId")
    return member


def lookup(session: Session, organization_id: int, id_type: str, code: str) -> Member:
    """Find a member by CARDCODE, APPCODE, EXTERNALCODE or ID (the Convercus id-type)."""
    id_type = (id_type or "ID").upper()
    if id_type == "ID":
        try:
            member_id = int(code)
        except ValueError:
            raise NotFound("Member not found", field="code") from None
        if not fits_id(member_id):  # named here, so that the error names `code` rather than memberId
            raise NotFound("Member not found", field="code")
        return get_member(session, organization_id, member_id)
    if id_type not in IDENTIFIER_TYPES:
        raise ValidationFailed("idType must be CARDCODE, APPCODE, EXTERNALCODE or ID", field="idType")
    member = session.scalars(
        select(Member).join(Identifier, Identifier.member_id == Member.id)
        .where(Identifier.organization_id == organization_id, Identifier.type == id_type,
               Identifier.code == normalise_code(id_type, code))).first()
    if member is None:
        raise NotFound("Member not found", field="code")
    return member


def identifiers_of(session: Session, member_id: int) -> list[Identifier]:
    return list(session.scalars(select(Identifier).where(Identifier.member_id == member_id).order_by(Identifier.id)))


# --- members as a read shows them (the API's hot reads) --------------------------------------------------------
# Core statements over the tables, not ORM objects: a read builds no models, loads nothing into the identity
# map and selects only what it shows. A member, its identifiers and its tier states come in ONE statement (the
# members row outer-joined to both; a member has a handful of each, so the product stays small).

SHOWN_COLUMNS = ("id", "organization_id", "loyalty_member_id", "member_type", "active", "account_status", "email",
                 "given_name", "family_name", "birth_date", "phone", "street", "city", "zip_code", "country_code",
                 "custom_attributes", "locale", "created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class Shown:
    """A member as a read shows it: `row` starts with SHOWN_COLUMNS, in that order; `identifiers` are (type,
    code, created_at) in the order they were attached; `tiers` are (loyalty_program_id, tier_id, tier name,
    source, expires_at) by programme."""

    row: Any
    identifiers: list[tuple]
    tiers: list[tuple]


def _shown_statement(members_from, order: tuple = ()):
    """The members of `members_from` (the members table, or a page of it as a subquery) with their identifiers
    and tier states, ordered by `order` (over `members_from`'s columns), then each member's identifiers and
    tiers in order, so that each member's rows come together."""
    from .tiers import MemberTier, Tier

    ident, state, tier = Identifier.__table__, MemberTier.__table__, Tier.__table__
    return (select(*(members_from.c[name] for name in SHOWN_COLUMNS), ident.c.id.label("identifier_id"),
                   ident.c.type.label("identifier_type"), ident.c.code.label("identifier_code"),
                   ident.c.created_at.label("identifier_created_at"), state.c.loyalty_program_id,
                   state.c.tier_id, tier.c.name.label("tier_name"), state.c.source.label("tier_source"),
                   state.c.expires_at.label("tier_expires_at"))
            .select_from(members_from.outerjoin(ident, ident.c.member_id == members_from.c.id)
                         .outerjoin(state, state.c.member_id == members_from.c.id)
                         .outerjoin(tier, tier.c.id == state.c.tier_id))
            .order_by(*order, members_from.c.id, ident.c.id, state.c.loyalty_program_id))


def _gather(rows) -> list[Shown]:
    """The joined rows folded back into one Shown per member, in the rows' order."""
    shown: list[Shown] = []
    current, seen_identifiers, seen_tiers = None, set(), set()
    for row in rows:
        if current is None or current.row[0] != row[0]:
            current, seen_identifiers, seen_tiers = Shown(row, [], []), set(), set()
            shown.append(current)
        identifier_id, kind, code, attached, program, tier, name, source, expires = row[_JOINED:]
        if identifier_id is not None and identifier_id not in seen_identifiers:
            seen_identifiers.add(identifier_id)
            current.identifiers.append((kind, code, attached))
        if program is not None and program not in seen_tiers:
            seen_tiers.add(program)
            current.tiers.append((program, tier, name, source, expires))
    return shown


_JOINED = len(SHOWN_COLUMNS)  # where the identifier's and the tier's columns start in a joined row
_MEMBERS = Member.__table__
_SHOWN_BY_ID = _shown_statement(_MEMBERS).where(_MEMBERS.c.id == bindparam("member_id"),
                                                _MEMBERS.c.organization_id == bindparam("organization_id"))
_SHOWN_BY_IDS = _shown_statement(_MEMBERS).where(_MEMBERS.c.id.in_(bindparam("member_ids", expanding=True)),
                                                 _MEMBERS.c.organization_id == bindparam("organization_id"))


def shown_member(session: Session, organization_id: int, member_id: int) -> Shown:
    """The member with this id in the organisation, as a read shows it (one statement); else NotFound on
    memberId, as `get_member`."""
    if not fits_id(member_id):
        raise NotFound("Member not found", field="memberId")
    found = _gather(session.execute(_SHOWN_BY_ID, {"member_id": member_id, "organization_id": organization_id}))
    if not found:
        raise NotFound("Member not found", field="memberId")
    return found[0]


def shown_members(session: Session, organization_id: int, member_ids: Sequence[int]) -> dict[int, Shown]:
    """The members with these ids in the organisation, as a read shows them, by id (one statement; the ids
    that name no member of the organisation are missing from the answer)."""
    wanted = sorted({i for i in member_ids if fits_id(i)})
    if not wanted:
        return {}
    rows = session.execute(_SHOWN_BY_IDS, {"member_ids": wanted, "organization_id": organization_id})
    return {shown.row.id: shown for shown in _gather(rows)}


# What a member list may be ordered by (`pagination.parse_order`).
LIST_ORDER = {"createdAt": _MEMBERS.c.created_at, "id": _MEMBERS.c.id, "loyaltyMemberId": _MEMBERS.c.loyalty_member_id,
              "familyName": _MEMBERS.c.family_name}


def shown_page(session: Session, organization_id: int, *, page: int, limit: int, order, **filters) -> Page:
    """One page of the organisation's members matching `filters` (as `list_query`), ordered by `order` (a
    `pagination.parse_order` clause over LIST_ORDER), as a read shows them: the page with its identifiers and
    tiers in one statement, then the total as `pagination.paginate` gives it with COUNT_CAP."""
    check_page(page, limit)
    given = _list_filters(**filters)
    listed, page_statement, counting = _page_statements(order.element.name, order.modifier is operators.desc_op,
                                                        frozenset(given), COUNT_CAP)
    params = {"organization_id": organization_id, **given}
    items = _gather(session.execute(page_statement, {**params, "limit": limit, "offset": page * limit}))
    whole = (organization_id, COUNT_CAP) if not given else None  # the unfiltered list is the one worth learning
    total = total_of(session, listed, page=page, limit=limit, found=len(items), count_cap=COUNT_CAP,
                     counting=counting, params=params,
                     at_least=COUNT_CAP if whole and _REACHED_CAP.known(session, whole) else 0)
    if whole:
        _REACHED_CAP.learn(session, whole, total, COUNT_CAP)
    return Page(total=total, page=page, limit=limit, items=items)


# The organisations (with the cap) seen with at least `cap` members: members rows are never deleted (erasure keeps
# the row).
_REACHED_CAP = ReachedCaps()


@functools.cache
def _page_statements(order_by: str, descending: bool, filters: frozenset[str], cap: int):
    """The member list's statements for one order and one set of filters given, made once (building them costs
    more than running them): the list, its page with identifiers and tiers, and its capped count."""
    listed = _listed(select(*(_MEMBERS.c[name] for name in SHOWN_COLUMNS)), _MEMBERS.c,
                     bindparam("organization_id"), {name: bindparam(name) for name in filters})
    # Rows equal in the column (a family name, a creation time) by id, in the same direction: each row on one
    # page only, whatever plan picks them.
    keys = [order_by] if order_by == "id" else [order_by, "id"]
    chosen = (listed.order_by(*(_MEMBERS.c[key].desc() if descending else _MEMBERS.c[key].asc() for key in keys))
              .limit(bindparam("limit")).offset(bindparam("offset")).subquery("page"))
    ordered = tuple(chosen.c[key].desc() if descending else chosen.c[key].asc() for key in keys)
    return listed, _shown_statement(chosen, ordered), count_statement(listed, cap)


def card_code_of(session: Session, member_id: int) -> str | None:
    return session.scalar(select(Identifier.code).where(Identifier.member_id == member_id,
                                                        Identifier.type == CARDCODE).order_by(Identifier.id))


# A member list counts at most this many matches for its totalCount (the API documents it): counting a whole
# organisation's members on every page costs more than the page itself at 100,000 members.
COUNT_CAP = 10_000


def list_query(organization_id: int, *, email: str | None = None, loyalty_member_id: str | None = None,
               from_created_at: dt.datetime | None = None, to_created_at: dt.datetime | None = None):
    return _listed(select(Member), Member, organization_id, _list_filters(
        email=email, loyalty_member_id=loyalty_member_id, from_created_at=from_created_at,
        to_created_at=to_created_at))


def _list_filters(*, email: str | None = None, loyalty_member_id: str | None = None,
                  from_created_at: dt.datetime | None = None, to_created_at: dt.datetime | None = None) -> dict:
    """The filters of a member list that were given, normalised."""
    given = {"email": email.strip().lower() if email else None, "loyalty_member_id": loyalty_member_id or None,
             "from_created_at": from_created_at, "to_created_at": to_created_at}
    return {name: value for name, value in given.items() if value is not None}


def _listed(stmt, columns, organization_id, filters: dict):
    """`stmt` narrowed to the organisation's members matching `filters`; `columns` is the model or its table's
    columns, the values may be bound parameters (a statement made once)."""
    stmt = where_given(stmt.where(columns.organization_id == organization_id),
                       (columns.email, filters.get("email")),
                       (columns.loyalty_member_id, filters.get("loyalty_member_id")))
    return within(stmt, columns.created_at, filters.get("from_created_at"), filters.get("to_created_at"))


DATE_TERM = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def search_query(organization_id: int, term: str):
    """Convercus search: every space-separated value must match an indexed field.

    Indexed: identifier code, given and family name, city, zip code, email, and
    birth date (YYYY-MM-DD), which cannot be combined with other values.
    """
    values = term.split()
    if not values:
        raise ValidationFailed("q must not be empty", field="q")
    stmt = select(Member).where(Member.organization_id == organization_id, Member.erased_at.is_(None))
    if any(DATE_TERM.match(v) for v in values):
        if len(values) > 1:
            raise ValidationFailed("A birth date cannot be combined with other search values", field="q")
        try:
            birth_date = dt.date.fromisoformat(values[0])
        except ValueError:
            raise ValidationFailed("Not a valid date", field="q") from None
        return stmt.where(Member.birth_date == birth_date)
    for value in values:
        like = f"%{_escape_like(value.lower())}%"
        prefix = f"{_escape_like(value.lower())}%"
        identifier_match = select(Identifier.id).where(
            Identifier.member_id == Member.id, func.lower(Identifier.code).like(prefix, escape="\\")).exists()
        stmt = stmt.where(or_(
            identifier_match,
            func.lower(Member.given_name).like(prefix, escape="\\"),
            func.lower(Member.family_name).like(prefix, escape="\\"),
            func.lower(Member.city).like(prefix, escape="\\"),
            func.lower(Member.zip_code).like(prefix, escape="\\"),
            func.lower(Member.email).like(like, escape="\\"),
        ))
    return stmt


def search_preview(member: Member) -> str:
    return f"name: {member.display_name},email: {member.email or ''}"


# --- internals -------------------------------------------------------------------

def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _apply_profile(member: Member, profile: dict[str, Any]) -> None:
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown profile field {sorted(unknown)[0]}", field=f"profile.{sorted(unknown)[0]}")
    if "email" in profile:
        email = (profile["email"] or "").strip().lower() or None
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise ValidationFailed("Not a valid email address", field="profile.email")
        member.email = email
    if "birthDate" in profile:
        value = profile["birthDate"]
        if isinstance(value, str) and value:
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise ValidationFailed("birthDate must be YYYY-MM-DD", field="profile.birthDate") from None
        if value and value > dt.date.today():
            raise ValidationFailed("birthDate cannot be in the future", field="profile.birthDate")
        member.birth_date = value or None
    simple = {"givenName": "given_name", "familyName": "family_name", "phone": "phone", "street": "street",
              "city": "city", "zipCode": "zip_code", "countryCode": "country_code"}
    for key, attr in simple.items():
        if key in profile:
            value = (profile[key] or "").strip()
            if key == "countryCode":
                value = value.upper()
                if value and not re.fullmatch(r"[A-Z]{2}", value):
                    raise ValidationFailed("countryCode must be two letters (ISO 3166-1)", field="profile.countryCode")
            setattr(member, attr, value)


def profile_of(member: Member) -> dict[str, Any]:
    return {"email": member.email, "givenName": member.given_name, "familyName": member.family_name,
            "birthDate": member.birth_date.isoformat() if member.birth_date else None, "phone": member.phone,
            "street": member.street, "city": member.city, "zipCode": member.zip_code,
            "countryCode": member.country_code}


def _require_unique_email(session: Session, organization_id: int, email: str | None, exclude: int | None = None):
    if not email:
        return
    stmt = select(Member.id).where(Member.organization_id == organization_id, Member.email == email)
    if exclude is not None:
        stmt = stmt.where(Member.id != exclude)
    if session.scalar(stmt):
        raise DuplicateValue("A member with this email already exists", field="profile.email")


def _require_not_erased(member: Member) -> None:
    if member.erased_at is not None:
        raise NotFound("Member not found", field="memberId")


def _generate_loyalty_member_id() -> str:
    digits = "".join(secrets.choice("0123456789") for _ in range(10))
    return f"{digits[:5]}-{digits[5:]}"


def taken_keys(session: Session, organization_id: int, *, emails: Sequence[str] = (),
               loyalty_member_ids: Sequence[str] = (), card_codes: Sequence[str] = ()) -> dict[str, set[str]]:
    """Which of these values a member of the organisation already holds, by kind ("email",
    "loyaltyMemberId", "cardCode"): one query per kind (and 500 values) for a bulk import's rows."""
    kinds = {"email": (Member.email, select(Member.email).where(Member.organization_id == organization_id), emails),
             "loyaltyMemberId": (Member.loyalty_member_id, select(Member.loyalty_member_id).where(
                 Member.organization_id == organization_id), loyalty_member_ids),
             "cardCode": (Identifier.code, select(Identifier.code).where(
                 Identifier.organization_id == organization_id, Identifier.type == CARDCODE), card_codes)}
    return {kind: taken_values(session, query, column, values) if values else set()
            for kind, (column, query, values) in kinds.items()}


def taken_values(session: Session, query, column, values) -> set:
    """Which of `values` the query's `column` already holds, asked in chunks."""
    values = list(dict.fromkeys(values))
    found: set = set()
    for start in range(0, len(values), _IN_CHUNK):
        found.update(session.scalars(query.where(column.in_(values[start:start + _IN_CHUNK]))))
    return found


def _unused_many(session: Session, count: int, generate, query, column, reserved: set | None = None) -> list[str]:
    """`count` generated values that are neither taken nor in `reserved`, nor repeated."""
    chosen: list[str] = []
    seen = set(reserved or ())
    for _ in range(20):
        wanted = []
        while len(wanted) < count - len(chosen):
            value = generate()
            if value not in seen:
                seen.add(value)
                wanted.append(value)
        taken = taken_values(session, query, column, wanted)
        chosen += [v for v in wanted if v not in taken]
        if len(chosen) == count:
            return chosen
    raise RuntimeError("could not generate unused codes")


_IN_CHUNK = 500


def _unused(session: Session, organization_id: int, generate, taken_query) -> str:
    for _ in range(20):
        code = generate()
        if not session.scalar(taken_query(code)):
            return code
    raise RuntimeError("could not generate an unused code")  # 31^9 space: practically unreachable
