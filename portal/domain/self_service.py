"""Member self-service accounts: signup, login, one-time mail links, password
changes, data export and erasure. Every face (member portal, API, console)
calls these; none of them touches Flask.

Invariants:
- A signup never tells whether the email was taken: `sign_up` returns the same
  kind of outcome for a new and a taken address, and the caller queues exactly
  one mail in both cases, in the same transaction (portal/mail.py): a welcome
  mail with a one-time sign-in link, or a note to the owner of the existing
  account.
- One-time links (signup confirmation, password reset) are stored only as a
  SHA-256 digest of the token; a token is used at most once, even under
  concurrency (conditional UPDATE on `used_at IS NULL`), and never after
  `expires_at`. Setting a new password revokes every other open reset link.
- Failed logins are limited per account (the email, whether or not it exists)
  and network address together, and per address, in the shared database
  (throttle.check_login); an account under attack is slowed down, never locked
  against its owner signing in from another address. The answer to a wrong
  email and to a wrong password is the same.
- Reset and signup requests are counted per address, mails per email, and
  unknown referral share links per address, each under throttle.serialize:
  of parallel requests exactly the limit gets through.
- A browser session lives only while its fingerprint matches the member
  (`session_fingerprint`): logout, a new password (changed or reset) and
  erasure end every session of the member (sessions.py).
- Passwords are stored only as argon2id hashes (passwords.py).
- Erasure (GDPR Art. 17) blanks every personal field of the member row,
  deletes identifiers, links and consents that could identify the person,
  blanks what else was kept about them (mail records to their address,
  staff import rows naming them, the device of a referral, any text of
  their events, webhook deliveries and audit entries that holds one of
  their details) in the same transaction, keeps the member id, wallets and
  ledger (sums stay intact), makes login impossible, and writes an audit
  entry naming who erased and when, with no personal data.
  tests/web/test_erasure_sweep.py looks for the person in every column of
  every table afterwards.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, Index, String, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, enrolment, links, mail_deliveries, members, outbox, throttle, tiers
from .actors import Actor
from .base import Base, OwnedRow, fits_id, isoformat, utcnow
from .bulk import member_import
from .errors import DuplicateValue, NotFound, ValidationFailed
from .members import Identifier, Member
from .organizations import Organization, default_program
from .outbox import OutboxEvent
from .passwords import hash_password, needs_rehash, verify_password
from .referrals import Referral
from .sessions import end_sessions
from .webhooks import WebhookDelivery, WebhookSubscription


def N_(message: str) -> str:
    """Mark a message for translation; the web side translates it when shown."""
    return message


# --- models ------------------------------------------------------------------------

SIGNUP_LINK, PASSWORD_RESET = "signup", "password_reset"
TOKEN_PURPOSES = (SIGNUP_LINK, PASSWORD_RESET)
TOKEN_LIFETIME = {SIGNUP_LINK: dt.timedelta(hours=48), PASSWORD_RESET: dt.timedelta(hours=1)}


class MemberToken(OwnedRow, Base):
    """A one-time link sent by mail. Only the digest of the token is kept."""

    __tablename__ = "member_tokens"
    __table_args__ = (Index("ix_member_tokens_member_purpose", "member_id", "purpose"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class MemberSignup(OwnedRow, Base):
    """How a member joined through the portal: consent to the terms, the
    referral code they brought (checked for shape only; the referrals engine
    decides what it earns) and when they confirmed their email."""

    __tablename__ = "member_signups"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(20), default="portal")
    terms_accepted_at: Mapped[dt.datetime]
    referral_code: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- rules -------------------------------------------------------------------------

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 200
# The most common passwords of at least ten characters (breach lists); a full
# list belongs in a file once we have one.
COMMON_PASSWORDS = frozenset("""
1234567890 0123456789 1q2w3e4r5t qwertyuiop 1234567891 password12 password123 1qaz2wsx3edc
qwerty1234 123456789a a123456789 iloveyou12 passwort123 passwort12 hallo12345 sommer2024
sommer2025 winter2024 winter2025 abcdefghij 0987654321 1111111111 qwertzuiop asdfghjkla
letmein123 welcome123 football12 monkey1234 dragon1234 changeme12 administrator
""".split())
REFERRAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")
OPTIN_TYPES = ("email", "sms")
LOCALES = ("en", "de")

LOGIN_SCOPES = throttle.LoginScopes(account="member-login-account", address="member-login-address",
                                    pair="member-login-pair")
MAIL_WINDOW = dt.timedelta(hours=1)
MAIL_LIMIT_PER_EMAIL = 5        # reset/signup mails to one address per hour
MAIL_LIMIT_PER_ADDRESS = 30     # reset/signup requests from one network address per hour
JOIN_LIMIT_PER_ADDRESS = 30     # unknown referral share links opened from one network address per hour

GENERIC_LOGIN_ERROR = N_("Email or password is not correct")
THROTTLED = N_("Too many attempts. Please wait a while and try again.")


def check_password_strength(password: str, *, email: str | None = None, names: tuple[str, ...] = ()) -> None:
    """NIST 800-63B style: length, not a known common password, not built from
    the member's own email or name. Raises ValidationFailed(field="password")."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationFailed(N_("Use at least 10 characters"), field="password")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise ValidationFailed(N_("Use at most 200 characters"), field="password")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 5:
        raise ValidationFailed(N_("This password is too easy to guess"), field="password")
    personal = [(email or "").split("@")[0].lower(), *(n.lower() for n in names)]
    if any(len(part) >= 4 and part in lowered for part in personal):
        raise ValidationFailed(N_("Do not use your name or email address in the password"), field="password")


def check_referral_code(code: str | None) -> str | None:
    """Shape only: letters, digits, - and _, 3 to 40 characters."""
    code = (code or "").strip()
    if not code:
        return None
    if not REFERRAL_CODE.match(code):
        raise ValidationFailed(N_("This is not a valid referral code"), field="referralCode")
    return code


def invitation(session: Session, organization_id: int, code: str, *, address: str):
    """The running referral code behind a share link (/join/<code>), or None: unknown, malformed or of a
    programme that is not running (counted against the address), or not even looked up when the address
    opened JOIN_LIMIT_PER_ADDRESS such links within the hour (no guessing codes through the link)."""
    from . import referrals

    scope = "member-join-address"
    throttle.serialize(session, scope, address)
    if throttle.failures(session, scope, address, MAIL_WINDOW) >= JOIN_LIMIT_PER_ADDRESS:
        return None
    try:
        return referrals.validate_code(session, organization_id, check_referral_code(code))
    except (NotFound, ValidationFailed):
        throttle.record_failure(session, scope, address)
        return None


def member_actor(member: Member) -> Actor:
    # The label names no person: audit entries must stay free of personal data.
    return Actor(kind="member", id=member.id, organization_id=member.organization_id, label=f"member {member.id}")


def session_fingerprint(member: Member) -> str:
    """Changes whenever the member signs out, the password changes or the member
    is erased, which ends every browser session that was started before."""
    source = f"{member.id}:{member.session_version}:{member.password_hash or ''}:{member.erased_at or ''}"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


# --- signup ------------------------------------------------------------------------

@dataclass
class SignupOutcome:
    """`member` is the new member, or the owner of the email when it was taken
    (then `created` is False and nothing but a mail count was written). `token`
    is the one-time sign-in link for the welcome mail; `notify` is False when
    the owner of a taken email was already told often enough this hour."""

    member: Member
    created: bool
    token: str | None = None
    notify: bool = True


def sign_up(session: Session, organization_id: int, *, email: str, password: str, given_name: str,
            family_name: str, birth_date: dt.date | None = None, accept_terms: bool,
            optins: dict[str, bool] | None = None, referral_code: str | None = None,
            locale: str = "en") -> SignupOutcome:
    """Create a member with a password, consents and a one-time sign-in link.

    Raises ValidationFailed naming the field (password, acceptTerms,
    referralCode, profile.*). A taken email is not an error (see SignupOutcome).
    """
    if not accept_terms:
        raise ValidationFailed(N_("Please accept the terms to join"), field="acceptTerms")
    email = (email or "").strip().lower()
    check_password_strength(password, email=email, names=(given_name, family_name))
    referral_code = check_referral_code(referral_code)
    if referral_code:
        # Checked before the email is looked up: a bad code must read the same for a new and a taken email.
        from . import referrals

        referrals.validate_code(session, organization_id, referral_code)
    profile = {"email": email, "givenName": given_name, "familyName": family_name,
               "birthDate": birth_date.isoformat() if birth_date else None}
    # Hash before looking: a taken email must cost the same time as a new one.
    password_hash = hash_password(password)
    outcome = enrol_self_signup(session, organization_id, profile=profile, channel="portal", locale=locale,
                                optins=optins, referral_code=referral_code, password_hash=password_hash)
    if outcome.created:
        session.add(MemberSignup(organization_id=organization_id, member_id=outcome.member.id,
                                 terms_accepted_at=utcnow(), referral_code=referral_code))
        session.flush()
        outcome.token = _issue_token(session, outcome.member, SIGNUP_LINK)
    return outcome


def enrol_self_signup(session: Session, organization_id: int, *, profile: dict[str, Any], channel: str,
                      locale: str = "en", optins: dict[str, bool] | None = None,
                      custom_attributes: dict[str, Any] | None = None, referral_code: str | None = None,
                      password_hash: str | None = None) -> SignupOutcome:
    """The one path by which a person enrols themselves (the portal's signup, embeddable signup forms):
    a new member through enrolment, the `member-signed-up` event and the entry tier, or, for a taken
    email, the owner with nothing written but a mail count (see SignupOutcome).

    `profile["email"]` must already be lower-case. Raises ValidationFailed naming profile.* fields.
    """
    existing = _member_by_email(session, organization_id, profile["email"])
    if existing is not None:
        return _taken(session, existing)
    try:
        # Enrolment attaches the referral and runs the member-created campaigns, as for every new member.
        member, _ = enrolment.enrol_member(
            session, organization_id, actor=_signup_actor(organization_id), profile=profile,
            referral_code=referral_code, locale=locale if locale in LOCALES else "en",
            custom_attributes=custom_attributes,
            optins={kind: bool((optins or {}).get(kind)) for kind in OPTIN_TYPES})
    except DuplicateValue:
        # Taken by a concurrent signup between our look and the insert.
        existing = _member_by_email(session, organization_id, profile["email"])
        if existing is None:
            raise
        return _taken(session, existing)
    member.password_hash = password_hash
    session.flush()
    outbox.emit(session, organization_id, "member-signed-up", member_id=member.id, channel=channel,
                referralCode=referral_code)
    # The entry tier (one starting at 0 tier points) from day one.
    tiers.evaluate(session, member.id, default_program(session, organization_id))
    return SignupOutcome(member=member, created=True)


def _taken(session: Session, owner: Member) -> SignupOutcome:
    key = f"{owner.organization_id}:{owner.email}"
    notify = throttle.under_limit(session, "member-mail-email", key, limit=MAIL_LIMIT_PER_EMAIL, window=MAIL_WINDOW)
    return SignupOutcome(member=owner, created=False, notify=notify)


def referral_code_of(session: Session, member_id: int) -> str | None:
    """The referral code the member brought at signup, for the referrals engine."""
    return session.scalar(select(MemberSignup.referral_code).where(MemberSignup.member_id == member_id))


def confirm_signup(session: Session, organization_id: int, token: str) -> Member:
    """Use a welcome-mail link: confirms the email and returns the member to sign in.

    Raises NotFound for an unknown, used or expired link.
    """
    member = _consume_token(session, organization_id, token, SIGNUP_LINK)
    session.execute(update(MemberSignup).where(MemberSignup.member_id == member.id,
                                               MemberSignup.email_confirmed_at.is_(None))
                    .values(email_confirmed_at=utcnow()))
    return member


# --- login -------------------------------------------------------------------------

def authenticate(session: Session, organization_id: int, email: str, password: str, *,
                 address: str) -> Member | None:
    """The member when email and password match, else None (the failure is
    recorded). Raises TooManyAttempts when this address may not try this account now."""
    email = (email or "").strip().lower()
    account_key = f"{organization_id}:{email}"
    throttle.check_login(session, LOGIN_SCOPES, account_key, address, message=THROTTLED)
    member = _member_by_email(session, organization_id, email) if email else None
    if not verify_password(member.password_hash if member else None, password):
        throttle.record_login_failure(session, LOGIN_SCOPES, account_key, address)
        return None
    throttle.login_succeeded(session, LOGIN_SCOPES, account_key, address)
    if needs_rehash(member.password_hash):
        member.password_hash = hash_password(password)
    return member


def sign_out(session: Session, member: Member) -> None:
    """End this browser session and every other one of the member."""
    end_sessions(session, member)


# Built once (every portal request runs it): SQLAlchemy computes its cache key once, not per request.
_SESSION_MEMBER = (select(Member, Organization).join(Organization, Organization.id == Member.organization_id)
                   .where(Member.id == bindparam("member_id")))


def load_member(session: Session, member_id: int, fingerprint: str) -> tuple[Member, Organization] | None:
    """The member behind a browser session and their organisation (every portal page shows its name), in one
    statement; None when erased or the session is stale."""
    if not fits_id(member_id):
        return None
    found = session.execute(_SESSION_MEMBER, {"member_id": member_id}).first()
    if found is None:
        return None
    member, organization = found
    return (member, organization) if session_is_current(member, fingerprint) else None


def session_is_current(member: Member, fingerprint: str) -> bool:
    """Whether a browser session with this fingerprint may go on as the member: not erased, a password set,
    and no sign-out, new password or erasure since it began."""
    if member.erased_at is not None or member.password_hash is None:
        return False
    return secrets.compare_digest(session_fingerprint(member), fingerprint)


# --- passwords -----------------------------------------------------------------------

def request_password_reset(session: Session, organization_id: int, email: str, *,
                           address: str) -> tuple[Member, str] | None:
    """A reset link for the member with this email, or None (unknown email, or
    too many mails asked for lately). The caller answers the same either way.

    Raises TooManyAttempts only for a flood from one network address.
    """
    email = (email or "").strip().lower()
    throttle.count_attempt(session, "member-mail-address", address, limit=MAIL_LIMIT_PER_ADDRESS, window=MAIL_WINDOW,
                           message=THROTTLED)
    if not throttle.under_limit(session, "member-mail-email", f"{organization_id}:{email}",
                                limit=MAIL_LIMIT_PER_EMAIL, window=MAIL_WINDOW):
        return None
    member = _member_by_email(session, organization_id, email) if email else None
    if member is None:
        return None
    return member, _issue_token(session, member, PASSWORD_RESET)


def check_signup_rate(session: Session, address: str) -> None:
    """Count a signup from this address. Raises TooManyAttempts for a flood."""
    throttle.count_attempt(session, "member-mail-address", address, limit=MAIL_LIMIT_PER_ADDRESS, window=MAIL_WINDOW,
                           message=THROTTLED)


def link_is_valid(session: Session, organization_id: int, token: str, purpose: str) -> bool:
    """Whether a one-time link can still be used (reading only: opening a link changes nothing)."""
    return _open_token(session, organization_id, token, purpose) is not None


def reset_password(session: Session, organization_id: int, token: str, new_password: str) -> Member:
    """Set a new password with a reset link, which is then used up.

    Raises ValidationFailed(field="password") for a weak password and NotFound
    (field="token") for an unknown, used or expired link.
    """
    row = _open_token(session, organization_id, token, PASSWORD_RESET)
    if row is None:
        raise NotFound(N_("This link is invalid or has expired"), field="token")
    member = session.get(Member, row.member_id)
    check_password_strength(new_password, email=member.email, names=(member.given_name, member.family_name))
    member = _consume_token(session, organization_id, token, PASSWORD_RESET)
    _set_password(session, member, new_password)
    throttle.clear(session, LOGIN_SCOPES.account, f"{organization_id}:{member.email}")
    audit.record(session, member_actor(member), "member.password_reset", member)
    return member


def change_password(session: Session, member: Member, current_password: str, new_password: str) -> Member:
    """Raises ValidationFailed on currentPassword or password."""
    if not verify_password(member.password_hash, current_password):
        raise ValidationFailed(N_("This is not your current password"), field="currentPassword")
    check_password_strength(new_password, email=member.email, names=(member.given_name, member.family_name))
    _set_password(session, member, new_password)
    audit.record(session, member_actor(member), "member.password_changed", member)
    return member


# --- profile -------------------------------------------------------------------------

def update_own_profile(session: Session, member: Member, *, profile: dict[str, Any], optins: dict[str, bool],
                       locale: str) -> Member:
    """What a member may change about themselves: not the email, status or attributes."""
    allowed = {"givenName", "familyName", "birthDate", "phone", "street", "city", "zipCode", "countryCode"}
    unknown = set(profile) - allowed
    if unknown:
        raise ValidationFailed("Not a field members can change", field=f"profile.{sorted(unknown)[0]}")
    if locale not in LOCALES:
        raise ValidationFailed(N_("Choose one of the offered languages"), field="locale")
    return members.update_member(session, member, actor=member_actor(member), profile=profile,
                                 optins={kind: bool(optins.get(kind)) for kind in OPTIN_TYPES}, locale=locale)


def set_locale(session: Session, member: Member, locale: str) -> None:
    if locale in LOCALES and member.locale != locale:
        members.update_member(session, member, actor=member_actor(member), locale=locale)


# --- data export (GDPR Art. 15 and 20) -------------------------------------------------

def export_member_data(session: Session, member: Member) -> dict[str, Any]:
    """Everything stored about the member, as plain JSON-ready data."""
    from .ledger import LedgerAccount, LedgerEntry, LedgerTransaction, Wallet
    from .tiers import Tier, TierHistory

    wallets = list(session.scalars(select(Wallet).where(Wallet.member_id == member.id).order_by(Wallet.id)))
    account_names = {a.id: a.name for a in session.scalars(
        select(LedgerAccount).where(LedgerAccount.id.in_([w.ledger_account_id for w in wallets] or [0])))}
    entries = session.execute(
        select(LedgerEntry, LedgerTransaction).join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.wallet_id.in_([w.id for w in wallets] or [0])).order_by(LedgerEntry.id)).all()
    tier_names = {t.id: t.name for t in session.scalars(
        select(Tier).where(Tier.organization_id == member.organization_id))}
    tier_rows = session.scalars(select(TierHistory).where(TierHistory.member_id == member.id)
                                .order_by(TierHistory.id)).all()

    member_events = session.scalars(select(OutboxEvent).where(OutboxEvent.member_id == member.id)
                                    .order_by(OutboxEvent.id)).all()
    signup = session.scalars(select(MemberSignup).where(MemberSignup.member_id == member.id)).first()
    return {
        "exportedAt": isoformat(utcnow()),
        "member": {"id": member.id, "loyaltyMemberId": member.loyalty_member_id, "memberType": member.member_type,
                   "active": member.active, "accountStatus": member.account_status, "locale": member.locale,
                   "createdAt": isoformat(member.created_at), "updatedAt": isoformat(member.updated_at),
                   "customAttributes": member.custom_attributes},
        "profile": members.profile_of(member),
        "optins": [{"type": kind, "flag": bool(flag)} for kind, flag in sorted(member.optins.items())],
        "signup": None if signup is None else {
            "channel": signup.channel, "termsAcceptedAt": isoformat(signup.terms_accepted_at),
            "referralCode": signup.referral_code, "emailConfirmedAt": isoformat(signup.email_confirmed_at)},
        "identifiers": [{"type": i.type, "code": i.code, "createdAt": isoformat(i.created_at)}
                        for i in members.identifiers_of(session, member.id)],
        "wallets": [{"walletId": w.id, "account": account_names.get(w.ledger_account_id),
                     "ledgerAccountId": w.ledger_account_id, "balance": w.balance, "pending": w.pending_in,
                     "held": w.held} for w in wallets],
        "transactions": [{"transactionId": tx.id, "walletId": entry.wallet_id, "type": tx.type,
                          "amount": entry.amount, "description": tx.description, "tags": tx.tags,
                          "externalId": tx.external_id, "createdAt": isoformat(entry.created_at)}
                         for entry, tx in entries],
        "tierHistory": [{"from": tier_names.get(h.from_tier_id), "to": tier_names.get(h.to_tier_id),
                         "source": h.source, "reason": h.reason, "expiresAt": isoformat(h.expires_at),
                         "createdAt": isoformat(h.created_at)} for h in tier_rows],
        "events": [{"type": e.event_type, "payload": e.payload, "createdAt": isoformat(e.created_at)}
                   for e in member_events],
    }


def record_export(session: Session, member: Member, actor: Actor) -> None:
    audit.record(session, actor, "member.data_exported", member)


# --- erasure (GDPR Art. 17) --------------------------------------------------------------

def erase_member(session: Session, member: Member, *, actor: Actor) -> Member:
    """Pseudonymise the member: personal fields blanked, identifiers, links and
    login gone; id, wallets and ledger kept. Idempotent for an erased member.

    Erased members cannot log in, earn or burn, and are no longer found by
    email, card code or search.
    """
    if member.erased_at is not None:
        return member
    old_email = member.email
    traces = _personal_values(member)
    member.email = None
    member.given_name = member.family_name = ""
    member.phone = member.street = member.city = member.zip_code = member.country_code = ""
    member.birth_date = None
    member.custom_attributes = {}
    member.optins = {}
    member.password_hash = None
    member.active = False
    member.erased_at = utcnow()
    member.updated_at = member.erased_at
    session.execute(delete(Identifier).where(Identifier.member_id == member.id))
    session.execute(delete(MemberToken).where(MemberToken.member_id == member.id))
    if old_email:
        for scope in (LOGIN_SCOPES.account, "member-mail-email"):
            throttle.clear(session, scope, f"{member.organization_id}:{old_email}")
        # Mail kept for sending and counting: the address and what was written to it.
        mail_deliveries.forget_recipient(session, member.organization_id, old_email)
    # Staff member imports: the rows that named or created the person.
    member_import.forget_person(session, member.organization_id, member.id, old_email)
    # The device a referred member joined from identifies them too.
    session.execute(update(Referral).where(Referral.referred_id == member.id, Referral.device_id.is_not(None))
                    .values(device_id=None))
    _forget_in_events(session, member, traces)
    session.flush()
    end_sessions(session, member)
    audit.record(session, actor, "member.erased", member)
    outbox.emit(session, member.organization_id, "member-erased", member_id=member.id)
    return member


def erase_own_account(session: Session, member: Member, password: str) -> Member:
    """A member deletes their own account after giving their password. Raises
    ValidationFailed(field="currentPassword")."""
    if not verify_password(member.password_hash, password):
        raise ValidationFailed(N_("This is not your current password"), field="currentPassword")
    return erase_member(session, member, actor=member_actor(member))


def _personal_values(member: Member) -> list[str]:
    """The member's own details, lower-case, as they may have been copied into free text elsewhere."""
    values = (member.email, member.given_name, member.family_name, member.phone, member.street, member.city,
              member.zip_code, member.birth_date.isoformat() if member.birth_date else None)
    return [v.strip().lower() for v in values if v and len(v.strip()) >= 3]


def _forget_in_events(session: Session, member: Member, traces: list[str]) -> None:
    """Blank every text of the member's events, webhook deliveries and audit entries that holds one of
    their details (a partner's custom event `{"store": "Berlin, Lindenstr. 5"}`, a description or a
    staff reason naming them); the rows themselves stay (the feed, the counts, who did what when)."""
    if not traces:
        return
    for event in session.scalars(select(OutboxEvent).where(OutboxEvent.member_id == member.id)):
        payload = _scrubbed(event.payload, traces)
        if payload != event.payload:
            event.payload = payload
    for entry in session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.target_type == "member",
                                                                audit.AuditEntry.target_id == str(member.id))):
        details = _scrubbed(entry.details, traces)
        if details != entry.details:
            entry.details = details
    subscriptions = select(WebhookSubscription.id).where(WebhookSubscription.organization_id == member.organization_id)
    for delivery in session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id.in_(subscriptions),
                                                                  WebhookDelivery.member_id == member.id)):
        if any(trace in delivery.body.lower() for trace in traces):
            delivery.body = json.dumps(_scrubbed(json.loads(delivery.body), traces), separators=(",", ":"))


def _scrubbed(value: Any, traces: list[str]) -> Any:
    """A JSON value with every string that holds a trace (case-insensitive) blanked."""
    if isinstance(value, str):
        return "" if any(trace in value.lower() for trace in traces) else value
    if isinstance(value, list):
        return [_scrubbed(v, traces) for v in value]
    if isinstance(value, dict):
        return {k: _scrubbed(v, traces) for k, v in value.items()}
    return value


# --- internals ---------------------------------------------------------------------------

def _signup_actor(organization_id: int) -> Actor:
    return Actor(kind="member", id=None, organization_id=organization_id, label="member signup")


def _member_by_email(session: Session, organization_id: int, email: str) -> Member | None:
    return session.scalars(select(Member).where(Member.organization_id == organization_id, Member.email == email,
                                                Member.erased_at.is_(None))).first()


def _issue_token(session: Session, member: Member, purpose: str) -> str:
    link, token = links.new_link(MemberToken, TOKEN_LIFETIME[purpose], organization_id=member.organization_id,
                                 member_id=member.id, purpose=purpose)
    session.add(link)
    session.flush()
    return token


def _open_token(session: Session, organization_id: int, token: str, purpose: str) -> MemberToken | None:
    return links.open_link(session, MemberToken, token, MemberToken.purpose == purpose,
                           MemberToken.organization_id == organization_id)


def _consume_token(session: Session, organization_id: int, token: str, purpose: str) -> Member:
    """Mark the token used; only one of any number of concurrent uses succeeds."""
    row = _open_token(session, organization_id, token, purpose)
    used = row is not None and links.use_link(session, MemberToken, row)
    member = session.get(Member, row.member_id) if used else None
    if member is None or member.erased_at is not None:
        raise NotFound(N_("This link is invalid or has expired"), field="token")
    return member


def _set_password(session: Session, member: Member, password: str) -> None:
    member.password_hash = hash_password(password)
    member.updated_at = utcnow()
    session.flush()
    end_sessions(session, member)
    # Any other reset link mailed earlier must not work after this.
    links.void_links(session, MemberToken, MemberToken.member_id == member.id, MemberToken.purpose == PASSWORD_RESET)
    session.flush()
