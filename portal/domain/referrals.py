"""Referral programmes: members share codes, friends join with them, both earn.

A programme names a qualifying event (the friend's first confirmed purchase,
or signing up). A member gets codes; a friend who joins with a code gets a
pending Referral; when the friend's qualifying event happens, the referral
completes: the referrer gets `referrer_points`, the friend `referred_points`,
an outbox `referral-completed` event is written and the engine runs a
REFERRAL_COMPLETED event for the referrer so campaigns can react.

Invariants:
- Codes are unique per organisation, from the unambiguous card-code alphabet.
- A member is referred at most once (unique referred member).
- Self-referral earns nothing: the same member, the same email (ignoring case
  and a +tag), a shared identifier (card code), or the same device id as the
  referrer or as another friend of the same referrer. It is recorded as
  `rejected` with the reason.
- A referral completes at most once, even with parallel qualifying events: the
  status moves pending -> completed by a conditional UPDATE and only the
  transaction whose UPDATE changed the row pays.
- Caps hold under concurrency, by conditional UPDATEs on counters: a referrer is
  rewarded for at most `max_referrals_per_member` referrals, a code for at most
  `max_uses_per_code`. Over a cap the referral still completes, with 0 points
  for both and the reason.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, and_, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, earning, outbox, custom_events, members, points
from .actors import Actor
from .base import Base, IndexedOwnedRow, OwnedRow, ValidityWindow, add_unique, get_owned, utcnow
from .checks import ledger_account_reference, reject_unknown, required_name, whole_number
from .errors import DuplicateValue, NotFound, ValidationFailed
from .ledger import Reason
from .members import CODE_ALPHABET, Member
from .pagination import where_given

PENDING, COMPLETED, REJECTED = "pending", "completed", "rejected"
STATUSES = (PENDING, COMPLETED, REJECTED)
CODE_LENGTH = 8
CUSTOM_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")
MAX_POINTS = 10_000_000


# --- errors: why a friend cannot join with a code (422, on referralCode) ----------------------

class ReferralCodeUnknown(ValidationFailed):
    code = "referral_code_unknown"
    title = "No referral programme knows this code"


class ReferralProgramNotRunning(ValidationFailed):
    code = "referral_program_not_running"
    title = "Referral programme is not running"


class AlreadyReferred(ValidationFailed):
    code = "already_referred"
    title = "Member was already referred"


class ReferralProgram(IndexedOwnedRow, ValidityWindow, Base):
    __tablename__ = "referral_programs"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    event_type: Mapped[str] = mapped_column(String(100), default=earning.PURCHASE_CONFIRMED)
    referrer_points: Mapped[int] = mapped_column(default=0)
    referred_points: Mapped[int] = mapped_column(default=0)
    ledger_account_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_accounts.id"), default=None)
    max_referrals_per_member: Mapped[int | None] = mapped_column(default=None)
    max_uses_per_code: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Referrer(Base):
    """A member's standing in one programme: how many of their referrals were rewarded (the per-member cap)."""

    __tablename__ = "referrers"
    __table_args__ = (UniqueConstraint("program_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("referral_programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    rewarded: Mapped[int] = mapped_column(default=0)


class ReferralCode(OwnedRow, Base):
    __tablename__ = "referral_codes"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    program_id: Mapped[int] = mapped_column(ForeignKey("referral_programs.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    uses: Mapped[int] = mapped_column(default=0)  # friends who joined with it
    rewarded: Mapped[int] = mapped_column(default=0)  # of those, referrals that paid (the per-code cap)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def share_path(self) -> str:
        return f"/join/{self.code}"


class Referral(IndexedOwnedRow, Base):
    __tablename__ = "referrals"

    program_id: Mapped[int] = mapped_column(ForeignKey("referral_programs.id"), index=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("referral_codes.id"), index=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    referred_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    reason: Mapped[str] = mapped_column(String(200), default="")
    device_id: Mapped[str | None] = mapped_column(String(200), default=None)
    referrer_points: Mapped[int] = mapped_column(default=0)
    referred_points: Mapped[int] = mapped_column(default=0)
    referrer_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), default=None)
    referred_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


# --- programmes ------------------------------------------------------------------------------

PROGRAM_FIELDS = ("name", "description", "event_type", "referrer_points", "referred_points", "ledger_account_id",
                  "max_referrals_per_member", "max_uses_per_code", "active", "valid_from", "valid_to")
API_NAMES = {"event_type": "eventType", "referrer_points": "referrerPoints", "referred_points": "referredPoints",
             "ledger_account_id": "ledgerAccountId", "max_referrals_per_member": "maxReferralsPerMember",
             "max_uses_per_code": "maxUsesPerCode", "valid_from": "validFromDate", "valid_to": "validToDate"}


def create_program(session: Session, organization_id: int, *, actor: Actor, name: str,
                   **fields: Any) -> ReferralProgram:
    """Define a referral programme. Raises ValidationFailed naming the field."""
    program = ReferralProgram(organization_id=organization_id, description="", event_type=earning.PURCHASE_CONFIRMED,
                              referrer_points=0, referred_points=0, active=True)
    _apply(session, program, {"name": name, **fields})
    return audit.record_added(session, actor, "referral_program.created", program)


def update_program(session: Session, program: ReferralProgram, *, actor: Actor, **changes: Any) -> ReferralProgram:
    """Change what was given; referrals already completed keep their points."""
    _apply(session, program, changes)
    return audit.record_changed(session, actor, "referral_program.updated", program,
                                fields=sorted(API_NAMES.get(k, k) for k in changes))


def get_program(session: Session, organization_id: int, program_id: int) -> ReferralProgram:
    return get_owned(session, ReferralProgram, program_id, organization_id, what="Referral programme",
                     field="referralProgramId")


def programs_query(organization_id: int):
    return select(ReferralProgram).where(ReferralProgram.organization_id == organization_id)


def _apply(session: Session, program: ReferralProgram, values: dict[str, Any]) -> None:
    reject_unknown(values, PROGRAM_FIELDS)
    if "name" in values:
        program.name = required_name(values["name"])
    if "description" in values:
        program.description = values["description"] or ""
    if "event_type" in values and values["event_type"] is not None:
        program.event_type = custom_events.require_known(session, program.organization_id, values["event_type"],
                                                          field="eventType")
    for key in ("referrer_points", "referred_points"):
        if key in values and values[key] is not None:
            setattr(program, key, whole_number(values[key], API_NAMES[key], minimum=0, maximum=MAX_POINTS))
    for key in ("max_referrals_per_member", "max_uses_per_code"):
        if key in values:
            setattr(program, key, None if values[key] is None
                    else whole_number(values[key], API_NAMES[key], minimum=1, maximum=1_000_000_000))
    if "ledger_account_id" in values:
        program.ledger_account_id = ledger_account_reference(session, program.organization_id,
                                                             values["ledger_account_id"])
    program.set_window(values, from_field=API_NAMES["valid_from"], to_field=API_NAMES["valid_to"])


# --- codes -------------------------------------------------------------------------------------

def create_code(session: Session, program: ReferralProgram, member: Member, *, actor: Actor,
                code: str | None = None) -> ReferralCode:
    """Give the member a referral code (generated unless `code` is given). Raises DuplicateValue, ValidationFailed."""
    if member.organization_id != program.organization_id:
        raise NotFound("Member not found", field="memberId")
    if code is not None:
        code = normalise_code(code)
        if not CUSTOM_CODE.match(code):
            raise ValidationFailed("A code is 4 to 40 letters, digits or hyphens", field="codes")
        if _code_taken(session, program.organization_id, code):
            raise DuplicateValue(f"The code {code} is already in use", field="codes")
    else:
        code = _generate_code(session, program.organization_id)
    _referrer(session, program.id, member.id)
    referral_code = ReferralCode(organization_id=program.organization_id, program_id=program.id,
                                 member_id=member.id, code=code)
    add_unique(session, referral_code, DuplicateValue(f"The code {code} is already in use", field="codes"))
    audit.record(session, actor, "referral_code.created", referral_code, programId=program.id, memberId=member.id)
    return referral_code


def ensure_code(session: Session, program: ReferralProgram, member: Member, *, actor: Actor) -> ReferralCode:
    """The member's first code in the programme, created if they have none yet."""
    existing = session.scalars(select(ReferralCode).where(ReferralCode.program_id == program.id,
                                                          ReferralCode.member_id == member.id)
                               .order_by(ReferralCode.id)).first()
    return existing or create_code(session, program, member, actor=actor)


def ensure_member_code(session: Session, member: Member, *, actor: Actor) -> ReferralCode | None:
    """The member's code in the organisation's running programme (the newest), or None when none runs."""
    program = running_program(session, member.organization_id)
    return ensure_code(session, program, member, actor=actor) if program else None


def running_program(session: Session, organization_id: int) -> ReferralProgram | None:
    now = utcnow()
    for program in session.scalars(programs_query(organization_id).where(ReferralProgram.active.is_(True))
                                   .order_by(ReferralProgram.id.desc())):
        if program.is_running_at(now):
            return program
    return None


def get_code(session: Session, program: ReferralProgram, code_id: int) -> ReferralCode:
    return get_owned(session, ReferralCode, code_id, program.organization_id, what="Referral code", field="codeId",
                     program_id=program.id)


def codes_query(program: ReferralProgram, member_id: int | None = None):
    return where_given(select(ReferralCode).where(ReferralCode.program_id == program.id),
                       (ReferralCode.member_id, member_id))


def normalise_code(code: str) -> str:
    return (code or "").strip().upper()


def _generate_code(session: Session, organization_id: int) -> str:
    for _ in range(20):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not _code_taken(session, organization_id, code):
            return code
    raise RuntimeError("could not generate an unused referral code")  # 31^8: practically unreachable


def _code_taken(session: Session, organization_id: int, code: str) -> bool:
    return session.scalar(select(ReferralCode.id).where(ReferralCode.organization_id == organization_id,
                                                        ReferralCode.code == code)) is not None


def _referrer(session: Session, program_id: int, member_id: int) -> Referrer:
    row = session.scalars(select(Referrer).where(Referrer.program_id == program_id,
                                                 Referrer.member_id == member_id)).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = Referrer(program_id=program_id, member_id=member_id)
            session.add(row)
    except IntegrityError:
        row = session.scalars(select(Referrer).where(Referrer.program_id == program_id,
                                                     Referrer.member_id == member_id)).one()
    return row


# --- joining with a code ------------------------------------------------------------------------

def find_code(session: Session, organization_id: int, code: str) -> ReferralCode | None:
    return session.scalars(select(ReferralCode).where(ReferralCode.organization_id == organization_id,
                                                      ReferralCode.code == normalise_code(code))).first()


def validate_code(session: Session, organization_id: int, code: str) -> ReferralCode:
    """A signup form's check. Raises ReferralCodeUnknown, ReferralProgramNotRunning (on referralCode)."""
    found = find_code(session, organization_id, code) if code and code.strip() else None
    if found is None:
        raise ReferralCodeUnknown("No referral programme knows this code", field="referralCode")
    program = session.get(ReferralProgram, found.program_id)
    if not program.is_running_at(utcnow()):
        raise ReferralProgramNotRunning("This referral programme is not running", field="referralCode")
    return found


def attach_referral(session: Session, referred: Member, code: str, *, actor: Actor, device_id: str | None = None,
                    card_code: str | None = None) -> Referral:
    """Record that `referred` joined with `code`: pending, or rejected as a self-referral (with the reason).

    `device_id` and `card_code` are what the signup saw (an app's device id, a card the
    friend presented). Raises on referralCode ReferralCodeUnknown, ReferralProgramNotRunning,
    AlreadyReferred (all ValidationFailed).
    """
    referral_code = validate_code(session, referred.organization_id, code)
    if session.scalar(select(Referral.id).where(Referral.referred_id == referred.id)) is not None:
        raise AlreadyReferred("This member was already referred", field="referralCode")
    referrer = session.get(Member, referral_code.member_id)
    device_id = (device_id or "").strip() or None
    why_self = _self_referral(session, referral_code, referrer, referred, device_id, card_code)
    referral = Referral(organization_id=referred.organization_id, program_id=referral_code.program_id,
                        code_id=referral_code.id, referrer_id=referrer.id, referred_id=referred.id,
                        status=REJECTED if why_self else PENDING, reason=why_self or "", device_id=device_id,
                        completed_at=utcnow() if why_self else None)
    add_unique(session, referral, AlreadyReferred("This member was already referred", field="referralCode"))
    session.execute(update(ReferralCode).where(ReferralCode.id == referral_code.id)
                    .values(uses=ReferralCode.uses + 1))
    audit.record(session, actor, "referral.attached", referral, status=referral.status, reason=referral.reason,
                 codeId=referral_code.id)
    return referral


def _self_referral(session: Session, code: ReferralCode, referrer: Member, referred: Member,
                   device_id: str | None, card_code: str | None) -> str | None:
    if referrer.id == referred.id:
        return "self-referral: own code"
    if referrer.email and referred.email and _mailbox(referrer.email) == _mailbox(referred.email):
        return "self-referral: same email"
    referrer_codes = {members.normalise_code(i.type, i.code).upper()
                      for i in members.identifiers_of(session, referrer.id)}
    referred_codes = {i.code.upper() for i in members.identifiers_of(session, referred.id)}
    if card_code:
        referred_codes.add(card_code.strip().upper())
    if referrer_codes & referred_codes:
        return "self-referral: same card code"
    if device_id:
        referrer_devices = {str((referrer.custom_attributes or {}).get("deviceId") or "")}
        referrer_devices |= set(session.scalars(select(Referral.device_id).where(
            Referral.referred_id == referrer.id, Referral.device_id.is_not(None))))
        if device_id in referrer_devices:
            return "self-referral: same device"
        if session.scalar(select(Referral.id).where(Referral.referrer_id == referrer.id,
                                                    Referral.device_id == device_id)) is not None:
            return "self-referral: device already used by a friend of this referrer"
    return None


def _mailbox(email: str) -> str:
    """ann+shop@example.com and ANN@example.com are one mailbox."""
    local, _, domain = email.strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


# --- qualifying ---------------------------------------------------------------------------------

# The referral programmes completing on an event type (whatever their dates: qualify_referral checks the running
# one), read with the campaigns and missions listening to the event in one statement (earning.listeners).
_QUALIFYING = earning.Listening(ReferralProgram, lambda model, organization_id, event_type: and_(
    model.organization_id == organization_id, model.event_type == event_type))


@earning.handler(30, listens=_QUALIFYING)
def qualify_referral(session: Session, event: earning.LoyaltyEvent, evaluation: earning.Evaluation, *,
                     actor: Actor, dry_run: bool = False) -> None:
    """The friend's qualifying event completes their pending referral, once."""
    if event.member is None:
        return
    row = session.execute(select(Referral, ReferralProgram).join(
        ReferralProgram, ReferralProgram.id == Referral.program_id).where(
        Referral.referred_id == event.member.id, Referral.status == PENDING,
        ReferralProgram.event_type == event.event_type)).first()
    if row is None:
        return
    referral, program = row
    if not program.is_running_at(event.occurred_at):
        return
    effect = complete_referral(session, referral, program, actor=actor, dry_run=dry_run)
    if effect is not None:
        evaluation.effects.append(effect)


def complete_referral(session: Session, referral: Referral, program: ReferralProgram, *, actor: Actor,
                      dry_run: bool = False) -> earning.Effect | None:
    """Complete a pending referral and pay both sides within the caps; None when it was already done."""
    if dry_run:
        referrer_points, referred_points, why = _would_pay(session, referral, program)
        return _effect(referral, referrer_points, referred_points, why, None)
    # Lock order: the friend's wallet (their purchase may hold it already), then the referral, the
    # referrer's counter, the code, the referrer's wallet; no path takes them the other way round.
    from .missions import lock_points_wallet

    lock_points_wallet(session, session.get(Member, referral.referred_id), program.ledger_account_id)
    claimed = session.execute(update(Referral).where(Referral.id == referral.id, Referral.status == PENDING)
                              .values(status=COMPLETED, completed_at=utcnow())
                              .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return None  # another transaction completed it first
    session.refresh(referral)
    why = _claim_caps(session, referral, program)
    referrer_points, referred_points = (0, 0) if why else (program.referrer_points, program.referred_points)
    referrer = session.get(Member, referral.referrer_id)
    referred = session.get(Member, referral.referred_id)
    if referrer_points:
        referral.referrer_transaction_id = _mint(session, referrer, referrer_points, program, referral, "referrer",
                                                 actor)
    if referred_points:
        referral.referred_transaction_id = _mint(session, referred, referred_points, program, referral, "referred",
                                                 actor)
    referral.referrer_points, referral.referred_points = referrer_points, referred_points
    referral.reason = why or ""
    session.flush()
    outbox.emit(session, referral.organization_id, "referral-completed", member_id=referrer.id,
                referralId=referral.id, referralProgramId=program.id, referredMemberId=referred.id,
                referrerPoints=referrer_points, referredPoints=referred_points, reason=why or "")
    audit.record(session, actor, "referral.completed", referral, referrerPoints=referrer_points,
                 referredPoints=referred_points, reason=why or "")
    # Campaigns may reward the referrer further; their effects are kept apart from the friend's event.
    follow_up = earning.dispatch(session, earning.LoyaltyEvent(
        organization_id=referral.organization_id, member=referrer, event_type=earning.REFERRAL_COMPLETED,
        payload={"referralId": referral.id, "referralProgramId": program.id, "referredMemberId": referred.id}),
        actor=actor)
    effect = _effect(referral, referrer_points, referred_points, why, referral.referred_transaction_id)
    effect.details["referrerLedgerTransactionId"] = referral.referrer_transaction_id
    effect.details["referrerEffects"] = [e.as_dict() for e in follow_up.effects]
    return effect


def take_back(session: Session, referral_id: int, *, actor: Actor,
              follow_up: list[dict[str, Any]] | None = None) -> list[tuple[int, int | None, int]]:
    """The friend's qualifying purchase was returned or cancelled: the referral it completed is undone.

    Only for programmes whose qualifying event is a purchase. The referral becomes `rejected` ("qualifying
    purchase returned": its rewards cannot be paid twice), the caps' counts it took are given back, and the
    points both sides got are returned as [(member_id, ledger_account_id, points)] for the caller to take back,
    with the points (and tier points) that campaigns on `referral-completed` gave the referrer: `follow_up`, the
    effects kept in the completion's `referrerEffects`. Only the first call after the completion returns any.
    """
    referral = session.get(Referral, referral_id)
    if referral is None:
        return []
    program = session.get(ReferralProgram, referral.program_id)
    if program.event_type != earning.PURCHASE_CONFIRMED:
        return []
    undone = session.execute(update(Referral).where(Referral.id == referral.id, Referral.status == COMPLETED)
                             .values(status=REJECTED, reason="qualifying purchase returned")
                             .execution_options(synchronize_session=False))
    if undone.rowcount != 1:
        return []
    session.refresh(referral)
    due = [(referral.referrer_id, program.ledger_account_id, referral.referrer_points),
           (referral.referred_id, program.ledger_account_id, referral.referred_points)]
    if referral.referrer_points or referral.referred_points:  # it was paid, so it counted against the caps
        session.execute(update(Referrer).where(Referrer.program_id == program.id,
                                               Referrer.member_id == referral.referrer_id, Referrer.rewarded > 0)
                        .values(rewarded=Referrer.rewarded - 1).execution_options(synchronize_session=False))
        session.execute(update(ReferralCode).where(ReferralCode.id == referral.code_id, ReferralCode.rewarded > 0)
                        .values(rewarded=ReferralCode.rewarded - 1).execution_options(synchronize_session=False))
    due += _follow_up_points(session, referral.referrer_id, follow_up or [])
    audit.record(session, actor, "referral.taken_back", referral, referrerPoints=referral.referrer_points,
                 referredPoints=referral.referred_points, followUpPoints=sum(p for _, _, p in due[2:]))
    return [(member_id, account_id, amount) for member_id, account_id, amount in due if amount > 0]


def _follow_up_points(session: Session, referrer_id: int, effects: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """What the campaigns on `referral-completed` minted to the referrer, per account (points, tier points)."""
    from .ledger import LedgerTransaction

    minted = []
    for effect in map(earning.Effect.from_dict, effects):
        if effect.type != "award_points" or not effect.points:
            continue
        for tx_id in (effect.ledger_transaction_id, effect.details.get("tierPointsTransactionId")):
            tx = session.get(LedgerTransaction, tx_id) if tx_id else None
            if tx is not None:
                minted.append((referrer_id, tx.ledger_account_id, tx.amount))
    return minted


def _claim_caps(session: Session, referral: Referral, program: ReferralProgram) -> str | None:
    """Count this referral against the per-referrer and per-code caps; the reason when a cap is full."""
    _referrer(session, program.id, referral.referrer_id)
    referrer_ok = session.execute(
        update(Referrer).where(Referrer.program_id == program.id, Referrer.member_id == referral.referrer_id,
                               _below(Referrer.rewarded, program.max_referrals_per_member))
        .values(rewarded=Referrer.rewarded + 1).execution_options(synchronize_session=False)).rowcount == 1
    if not referrer_ok:
        return f"referrer reached maxReferralsPerMember ({program.max_referrals_per_member})"
    code_ok = session.execute(
        update(ReferralCode).where(ReferralCode.id == referral.code_id,
                                   _below(ReferralCode.rewarded, program.max_uses_per_code))
        .values(rewarded=ReferralCode.rewarded + 1).execution_options(synchronize_session=False)).rowcount == 1
    if not code_ok:
        # Give back the referrer's slot taken above; we hold its row lock until commit.
        session.execute(update(Referrer).where(Referrer.program_id == program.id,
                                               Referrer.member_id == referral.referrer_id)
                        .values(rewarded=Referrer.rewarded - 1).execution_options(synchronize_session=False))
        return f"code reached maxUsesPerCode ({program.max_uses_per_code})"
    return None


def _below(column, cap: int | None):
    return true() if cap is None else column < cap


def _would_pay(session: Session, referral: Referral, program: ReferralProgram) -> tuple[int, int, str | None]:
    rewarded = session.scalar(select(Referrer.rewarded).where(Referrer.program_id == program.id,
                                                              Referrer.member_id == referral.referrer_id)) or 0
    if program.max_referrals_per_member is not None and rewarded >= program.max_referrals_per_member:
        return 0, 0, f"referrer reached maxReferralsPerMember ({program.max_referrals_per_member})"
    code_rewarded = session.scalar(select(ReferralCode.rewarded).where(ReferralCode.id == referral.code_id)) or 0
    if program.max_uses_per_code is not None and code_rewarded >= program.max_uses_per_code:
        return 0, 0, f"code reached maxUsesPerCode ({program.max_uses_per_code})"
    return program.referrer_points, program.referred_points, None


def _mint(session: Session, member: Member, amount: int, program: ReferralProgram, referral: Referral, side: str,
          actor: Actor) -> int:
    description = ("Referral reward: a friend joined" if side == "referrer" else "Welcome reward: joined with a "
                                                                                  "friend's code")
    reason = Reason(description=description, tags=["referral", f"referral-program:{program.id}"],
                    system_unique_key=f"referral:{referral.id}:{side}")
    return points.mint_to_member(session, member, amount, actor=actor, reason=reason,
                                 account_id=program.ledger_account_id).transactions[0].id


def _effect(referral: Referral, referrer_points: int, referred_points: int, why: str | None,
            tx_id: int | None) -> earning.Effect:
    return earning.Effect(type="referral_completed", points=referred_points, source=f"referral:{referral.id}",
                         ledger_transaction_id=tx_id, details={
                             "referralId": referral.id, "referralProgramId": referral.program_id,
                             "referrerMemberId": referral.referrer_id, "referredMemberId": referral.referred_id,
                             "referrerPoints": referrer_points, "referredPoints": referred_points,
                             "reason": why or ""})


# --- reports -----------------------------------------------------------------------------------

def report_query(program: ReferralProgram, *, status: str | None = None, code_id: int | None = None):
    """Who referred whom: (Referral, ReferralCode, referrer Member, referred Member) rows."""
    from sqlalchemy.orm import aliased

    referrer, referred = aliased(Member), aliased(Member)
    stmt = (select(Referral, ReferralCode, referrer, referred)
            .join(ReferralCode, ReferralCode.id == Referral.code_id)
            .join(referrer, referrer.id == Referral.referrer_id)
            .join(referred, referred.id == Referral.referred_id)
            .where(Referral.program_id == program.id))
    return where_given(stmt, (Referral.status, status or None), (Referral.code_id, code_id))


def masked_name(member: Member) -> str | None:
    """'Anna Schmidt' -> 'A*** S.': enough for a friend to recognise, not to identify; None when there
    is no name to mask (the page says "A friend" in the reader's language)."""
    given = (member.given_name or "").strip()
    family = (member.family_name or "").strip()
    if member.erased_at is not None or not (given or family):
        return None
    parts = []
    if given:
        parts.append(f"{given[0].upper()}***")
    if family:
        parts.append(f"{family[0].upper()}.")
    return " ".join(parts)


@dataclass
class Friend:
    name: str | None
    status: str
    joined_at: dt.datetime
    completed_at: dt.datetime | None
    points: int
    reason: str = ""


@dataclass
class CodeSummary:
    code: str
    share_path: str
    program_id: int
    program_name: str
    referrer_points: int
    referred_points: int
    uses: int


@dataclass
class ReferralSummary:
    """The member portal's referrals page: the member's codes in active programmes, the friends they brought
    (names masked, newest first) and the points those referrals earned them."""

    codes: list[CodeSummary] = field(default_factory=list)
    friends: list[Friend] = field(default_factory=list)
    points_earned: int = 0

    @property
    def friends_joined(self) -> int:
        return len(self.friends)

    @property
    def friends_completed(self) -> int:
        return sum(1 for f in self.friends if f.status == COMPLETED)


def referral_summary(session: Session, member: Member) -> ReferralSummary:
    """The member portal's referrals page: codes with share paths, friends (masked), points earned. Reads only."""
    codes = session.execute(select(ReferralCode, ReferralProgram).join(
        ReferralProgram, ReferralProgram.id == ReferralCode.program_id).where(
        ReferralCode.member_id == member.id).order_by(ReferralCode.id)).all()
    summary = ReferralSummary(codes=[CodeSummary(code=c.code, share_path=c.share_path, program_id=p.id,
                                                 program_name=p.name, referrer_points=p.referrer_points,
                                                 referred_points=p.referred_points, uses=c.uses)
                                     for c, p in codes if p.active])
    rows = session.execute(select(Referral, Member).join(Member, Member.id == Referral.referred_id)
                           .where(Referral.referrer_id == member.id).order_by(Referral.id.desc())).all()
    summary.friends = [Friend(name=masked_name(friend), status=r.status, joined_at=r.created_at,
                              completed_at=r.completed_at, points=r.referrer_points, reason=r.reason)
                       for r, friend in rows]
    summary.points_earned = session.scalar(select(func.coalesce(func.sum(Referral.referrer_points), 0)).where(
        Referral.referrer_id == member.id, Referral.status == COMPLETED)) or 0
    return summary


def referral_of(session: Session, member: Member) -> Referral | None:
    """How the member joined: their own referral (pending, completed or rejected), if any."""
    return session.scalars(select(Referral).where(Referral.referred_id == member.id)).first()
