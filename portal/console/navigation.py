"""The console's navigation: one list, filtered by the signed-in user's roles.

Other console areas add their pages with `register(...)` at import time, so the
layout never hard-codes links a user could not open.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    role: str | None = None
    # Endpoints starting with this prefix mark the item as the current page.
    active_prefix: str = ""

    def is_active(self, endpoint: str | None) -> bool:
        if not endpoint:
            return False
        return endpoint == self.endpoint or bool(self.active_prefix and endpoint.startswith(self.active_prefix))


NAV_ITEMS: list[NavItem] = [
    NavItem("Dashboard", "console.dashboard"),
    NavItem("Members", "console.member_list", "members:read", "console.member_"),
    NavItem("Staff users", "console.staff_list", "users:read", "console.staff_"),
    NavItem("API keys", "console.api_key_list", "users:read", "console.api_key_"),
    NavItem("Audit log", "console.audit_list", "users:read", "console.audit_"),
]


def register(label: str, endpoint: str, role: str | None = None, active_prefix: str = "") -> None:
    """Add a console page to the navigation (shown only to users holding `role`)."""
    if not any(item.endpoint == endpoint for item in NAV_ITEMS):
        NAV_ITEMS.append(NavItem(label, endpoint, role, active_prefix))


def visible_items(user) -> list[NavItem]:
    return [item for item in NAV_ITEMS if item.role is None or user.has_role(item.role)]
