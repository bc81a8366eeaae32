"""Staff users, API keys and roles.

Invariants:
- Roles come from ROLES only; `admin` implies every other role.
- Passwords are stored as argon2id hashes; API keys as SHA-256 of a 256-bit
  secret (fast to check on every request, useless if the table leaks).
- A revoked key or an inactive staff user authenticates nothing.
- A browser session works only while its session version is the user's
  (sessions.py): signing out, a new password and deactivation end them all.
- An API key created in the console remembers its creator (`created_by_id`);
  deactivating the creator revokes those keys at once, for good (reactivating
  the user does not bring them back). Keys created through the API by another
  key have no creator and live until revoked.
- A password-reset link is a one-time token (only its digest stored) that
  expires; a newer link, or the user's deactivation, voids the older ones.
- A caller changes or revokes only users and keys whose roles it could grant
  itself (`require_grantable`): a `users:write` key cannot revoke an admin's key.
- Failed sign-ins are throttled per account and address (throttle.check_login).
"""
from __future__ import annotations

import datetime as dt
import hmac
import secrets

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, links, throttle
from .actors import Actor
from .base import Base, IndexedOwnedRow, add_unique, get_owned, utcnow
from .errors import Conflict, DuplicateValue, NotFound, PermissionDenied, ValidationFailed
from .passwords import digest, hash_password, verify_password
from .sessions import end_sessions

RESOURCES = ("members", "ledgers", "coupons", "campaigns", "tiers", "orders", "users", "forms", "partnerships",
             "webhooks")
# Reports only read: there is no reports:write.
ROLES = tuple(f"{r}:{a}" for r in RESOURCES for a in ("read", "write")) + ("reports:read", "admin")
# The roles a kind of staff user starts with (`admin` implies every role).
DEFAULT_ROLES = {
    "admin": ("admin",),
    "marketing": ("campaigns:read", "campaigns:write", "coupons:read", "coupons:write", "tiers:read", "members:read",
                  "reports:read"),
    # Shop staff: look members up, see and correct their orders (confirm, cancel, returns).
    "store": ("members:read", "orders:read", "orders:write"),
}
MIN_PASSWORD_LENGTH = 10
RESET_LINK_LIFETIME = dt.timedelta(hours=24)


class StaffUserInactive(Conflict):
    """A password-reset link was asked for a deactivated staff user, who could not use it: reactivate them first."""

    code = "staff_user_inactive"
    title = "The staff user is deactivated"


class StaffEmailAmbiguous(Conflict):
    """A staff user was looked up by email alone (`flask staff set-password`) and staff of several organisations
    have that email: the caller names the organisation (`--org`)."""

    code = "staff_email_ambiguous"
    title = "Staff users in several organisations have this email"


class StaffUser(IndexedOwnedRow, Base):
    """Emails are unique within an organisation only: the same person may work for several, and
    nothing may reveal that an address is used in another organisation."""

    __tablename__ = "staff_users"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def actor(self) -> Actor:
        return Actor(kind="staff", id=self.id, organization_id=self.organization_id, label=self.email,
                     roles=frozenset(self.roles))

    def has_role(self, role: str) -> bool:
        return self.actor().has_role(role)


class ApiKey(IndexedOwnedRow, Base):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True, default=None)

    def actor(self) -> Actor:
        return Actor(kind="api_key", id=self.id, organization_id=self.organization_id, label=f"key {self.prefix}",
                     roles=frozenset(self.roles))


class StaffToken(Base):
    """A one-time password-reset link sent by mail. Only the digest of the token is kept."""

    __tablename__ = "staff_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def check_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed(f"Unknown role {unknown[0]}", field="roles")
    return sorted(set(roles))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if password.isdigit() or password.isalpha():
        raise ValidationFailed("Password must mix letters with digits or symbols", field="password")


def create_staff_user(session: Session, organization_id: int, *, email: str, password: str, roles: list[str],
                      actor: Actor, name: str = "") -> StaffUser:
    require_grantable(actor, roles)
    check_password_strength(password)
    user = StaffUser(organization_id=organization_id, email=email.strip().lower(), name=name,
                     password_hash=hash_password(password), roles=check_roles(roles))
    add_unique(session, user, DuplicateValue("A staff user with this email already exists in this organisation",
                                             field="email"))
    audit.record(session, actor, "staff.created", user, roles=user.roles)
    return user


LOGIN_SCOPES = throttle.LoginScopes(account="console-login", address="console-login-address",
                                    pair="console-login-pair")
LOGIN_THROTTLED = "Too many failed sign-in attempts. Try again later."


def authenticate_staff(session: Session, email: str, password: str) -> StaffUser | None:
    """The active staff user with this email whose password this is. One email may belong to staff users
    of several organisations: the password decides; when it opens more than one, the one signed in to
    most recently (then the oldest)."""
    users = session.scalars(select(StaffUser).where(StaffUser.email == email.strip().lower())
                            .order_by(StaffUser.last_login_at.desc().nulls_last(), StaffUser.id)).all()
    if not users:
        verify_password(None, password)  # the time of a real check: an unknown email is not revealed
        return None
    # Every candidate's hash is checked, so the time taken does not tell which of them matched.
    matches = [user for user in users if verify_password(user.password_hash, password)]
    user = next((user for user in matches if user.active), None)
    if user is None:
        return None
    user.last_login_at = utcnow()
    return user


def sign_in(session: Session, email: str, password: str, *, address: str) -> StaffUser | None:
    """The active staff user with this email and password, else None (the failure is recorded:
    commit it). Raises TooManyAttempts when this address may not try this account now."""
    account = (email or "").strip().lower()
    throttle.check_login(session, LOGIN_SCOPES, account, address, message=LOGIN_THROTTLED)
    user = authenticate_staff(session, account, password)
    if user is None:
        throttle.record_login_failure(session, LOGIN_SCOPES, account, address)
        return None
    throttle.login_succeeded(session, LOGIN_SCOPES, account, address)
    return user


def sign_out(session: Session, user: StaffUser) -> None:
    """End this session and every other one of the user."""
    end_sessions(session, user)


def get_staff_user(session: Session, user_id: int) -> StaffUser | None:
    user = session.get(StaffUser, user_id)
    return user if user is not None and user.active else None


def load_session_user(session: Session, user_id: int, session_version: int) -> StaffUser | None:
    """The user behind a browser session, or None when inactive or the session was ended."""
    user = get_staff_user(session, user_id)
    return user if user is not None and user.session_version == session_version else None


def find_staff_user(session: Session, email: str, organization_id: int | None = None) -> StaffUser:
    """The staff user with this email (in this organisation, needed when several have it).
    Raises NotFound(field="email"), StaffEmailAmbiguous(field="email")."""
    query = select(StaffUser).where(StaffUser.email == (email or "").strip().lower())
    if organization_id is not None:
        query = query.where(StaffUser.organization_id == organization_id)
    users = session.scalars(query.limit(2)).all()
    if not users:
        raise NotFound("No staff user with this email", field="email")
    if len(users) > 1:
        raise StaffEmailAmbiguous("Staff users in several organisations have this email: name the organisation",
                                  field="email")
    return users[0]


def get_staff_user_in(session: Session, organization_id: int, user_id: int) -> StaffUser:
    return get_owned(session, StaffUser, user_id, organization_id, what="Staff user", field="userId")


def deactivate_staff_user(session: Session, organization_id: int, user_id: int, *, actor: Actor) -> StaffUser:
    """The user can no longer sign in, and their open sessions end. Raises NotFound, PermissionDenied
    (a user whose roles the actor could not grant, or the actor themselves)."""
    user = get_staff_user_in(session, organization_id, user_id)
    require_grantable(actor, user.roles, field="userId")
    if actor.kind == "staff" and actor.id == user.id:
        raise PermissionDenied("You cannot deactivate yourself", field="userId")
    if user.active:
        user.active = False
        end_sessions(session, user)
        links.void_links(session, StaffToken, StaffToken.staff_user_id == user.id)
        revoked = _revoke_keys_created_by(session, user, actor)
        audit.record(session, actor, "staff.deactivated", user, apiKeysRevoked=revoked)
    return user


def reactivate_staff_user(session: Session, organization_id: int, user_id: int, *, actor: Actor) -> StaffUser:
    """The user can sign in again (with their password; sessions and API keys ended at deactivation
    stay ended). Raises NotFound, PermissionDenied (roles the actor could not grant)."""
    user = get_staff_user_in(session, organization_id, user_id)
    require_grantable(actor, user.roles, field="userId")
    if not user.active:
        user.active = True
        audit.record(session, actor, "staff.reactivated", user)
    return user


def set_staff_roles(session: Session, organization_id: int, user_id: int, roles: list[str], *,
                    actor: Actor) -> StaffUser:
    """Replace the user's roles. The actor must be able to grant both the roles the user holds and
    the new ones, and cannot change their own. Raises NotFound, PermissionDenied, ValidationFailed(roles)."""
    user = get_staff_user_in(session, organization_id, user_id)
    if actor.kind == "staff" and actor.id == user.id:
        raise PermissionDenied("You cannot change your own roles", field="userId")
    require_grantable(actor, user.roles, field="userId")
    new_roles = check_roles(roles)
    if not new_roles:
        raise ValidationFailed("Choose at least one role", field="roles")
    require_grantable(actor, new_roles)
    if new_roles != sorted(user.roles):
        before, user.roles = sorted(user.roles), new_roles
        session.flush()
        audit.record(session, actor, "staff.roles_changed", user, before=before, after=new_roles)
    return user


def issue_password_reset(session: Session, organization_id: int, user_id: int, *,
                         actor: Actor) -> tuple[StaffUser, str]:
    """A one-time reset link's token for the user (mail it after the commit); older links stop working.
    The current password keeps working until the link is used. Raises NotFound, PermissionDenied,
    StaffUserInactive."""
    user = get_staff_user_in(session, organization_id, user_id)
    require_grantable(actor, user.roles, field="userId")
    if not user.active:
        raise StaffUserInactive("Reactivate the user first", field="userId")
    links.void_links(session, StaffToken, StaffToken.staff_user_id == user.id)
    link, token = links.new_link(StaffToken, RESET_LINK_LIFETIME, staff_user_id=user.id)
    session.add(link)
    session.flush()
    audit.record(session, actor, "staff.password_reset_sent", user)
    return user, token


def reset_link_user(session: Session, token: str) -> StaffUser | None:
    """The active user a reset link is for, while it can still be used (reading only)."""
    return _open_reset_link(session, token)[1]


def reset_password_with_link(session: Session, token: str, password: str) -> StaffUser:
    """Set a new password with a reset link, which is then used up; every session of the user ends.
    Raises NotFound(field="token") for an unknown, used or expired link, ValidationFailed(password)."""
    link, user = _open_reset_link(session, token)
    if user is None:
        raise NotFound("This link is invalid or has expired", field="token")
    check_password_strength(password)
    if not links.use_link(session, StaffToken, link):  # a concurrent use of the same link won
        raise NotFound("This link is invalid or has expired", field="token")
    user.password_hash = hash_password(password)
    end_sessions(session, user)
    throttle.clear(session, LOGIN_SCOPES.account, user.email)
    audit.record(session, user.actor(), "staff.password_reset", user)
    return user


def _open_reset_link(session: Session, token: str) -> tuple[StaffToken | None, StaffUser | None]:
    """The open link and its user, while the user is active; (None, None) otherwise."""
    link = links.open_link(session, StaffToken, token)
    user = session.get(StaffUser, link.staff_user_id) if link is not None else None
    return (link, user) if user is not None and user.active else (None, None)


def _revoke_keys_created_by(session: Session, user: StaffUser, actor: Actor) -> int:
    keys = list(session.scalars(select(ApiKey).where(ApiKey.created_by_id == user.id, ApiKey.revoked_at.is_(None))))
    for key in keys:
        key.revoked_at = utcnow()
        audit.record(session, actor, "api_key.revoked", key, reason="creator deactivated", staffUserId=user.id)
    return len(keys)


def set_staff_password(session: Session, user: StaffUser, password: str, *, actor: Actor) -> StaffUser:
    """A new password; every open session of the user ends. Raises ValidationFailed(field="password")."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    end_sessions(session, user)
    audit.record(session, actor, "staff.password_changed", user)
    return user


def create_api_key(session: Session, organization_id: int, *, name: str, roles: list[str],
                   actor: Actor) -> tuple[ApiKey, str]:
    """Returns the key row and the secret, which is shown once and never stored."""
    require_grantable(actor, roles)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    raw = f"pk_{prefix}_{secret}"
    key = ApiKey(organization_id=organization_id, name=name, prefix=prefix, key_hash=digest(raw),
                 roles=check_roles(roles), created_by_id=actor.id if actor.kind == "staff" else None)
    return audit.record_added(session, actor, "api_key.created", key, roles=key.roles), raw


def authenticate_api_key(session: Session, raw: str) -> ApiKey | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "pk":
        return None
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[1])).first()
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest(raw)):
        return None
    return key


def revoke_api_key(session: Session, organization_id: int, key_id: int, *, actor: Actor) -> ApiKey:
    """Raises NotFound, PermissionDenied for a key whose roles the actor could not grant."""
    key = get_owned(session, ApiKey, key_id, organization_id, what="API key", field="apiKeyId")
    require_grantable(actor, key.roles, field="apiKeyId")
    key.revoked_at = utcnow()
    audit.record(session, actor, "api_key.revoked", key)
    return key


def require_grantable(actor: Actor, roles: list[str], *, field: str = "roles") -> None:
    """Nobody hands out a role they do not hold themselves, nor changes or revokes the
    user or key of someone who holds one."""
    missing = [r for r in roles if not actor.has_role(r)]
    if missing:
        raise PermissionDenied(f"This needs the role {missing[0]}, which you do not hold", field=field)
