"""Who is acting: recorded on every ledger movement and audit entry."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    kind: str  # staff | api_key | member | oauth | system
    id: int | None
    organization_id: int | None
    label: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    # An OAuth token a member granted a partner app: whose data it reaches, and within which scopes.
    member_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str) -> bool:
        return "admin" in self.roles or role in self.roles


SYSTEM = Actor(kind="system", id=None, organization_id=None, label="system", roles=frozenset({"admin"}))


def system_actor(organization_id: int | None = None, label: str = "system") -> Actor:
    return Actor(kind="system", id=None, organization_id=organization_id, label=label, roles=frozenset({"admin"}))
