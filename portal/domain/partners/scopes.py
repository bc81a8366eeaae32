"""The scopes a member can grant a partner app, listed in one place.

What each opens:
- openid:        signing in: an id_token naming the member (`sub`)
- profile:       name and locale (userinfo), and the member record in the API
- email:         the email address (userinfo; the member record shows it only with this scope)
- wallet:read:   balances and wallet transactions
- coupons:read:  the member's coupons and the offers they may claim
- coupons:write: claiming an offered coupon, activating or deactivating one
"""
from __future__ import annotations

from ..actors import Actor

OPENID, PROFILE, EMAIL = "openid", "profile", "email"
WALLET_READ, COUPONS_READ, COUPONS_WRITE = "wallet:read", "coupons:read", "coupons:write"
SCOPES = (OPENID, PROFILE, EMAIL, WALLET_READ, COUPONS_READ, COUPONS_WRITE)


def scope_list(scope: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Distinct scopes in a space-separated string (or a list), in the order of SCOPES, unknown ones last."""
    words = scope.split() if isinstance(scope, str) else list(scope or [])
    distinct = list(dict.fromkeys(w for w in words if w))
    return sorted(distinct, key=lambda s: (SCOPES.index(s) if s in SCOPES else len(SCOPES), s))


def scope_string(scope: str | list[str] | tuple[str, ...] | None) -> str:
    """The one spelling of a set of scopes, as stored and compared."""
    return " ".join(scope_list(scope))


def sees_email(actor: Actor) -> bool:
    """Whether this actor may see a member's email address: anyone but a partner app's token without `email`
    (the member granted their profile, not their address)."""
    return actor.kind != "oauth" or EMAIL in actor.scopes


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in SCOPES]
