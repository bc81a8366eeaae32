"""One `safe_next` for the whole app (portal/forms.py): after signing in, the console and the
member portal follow a `next` target only when it is a path on this site."""
from __future__ import annotations

import pytest

from portal.forms import safe_next

from .member_helpers import PASSWORD, make_member, member, portal  # noqa: F401  (fixtures)

# Each would leave the site, or could once a browser has cleaned it up: browsers drop tabs and
# newlines from URLs ("/\t/evil.example" becomes "//evil.example") and read "\" as "/".
REFUSED = ["/\x00evil", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\x1b/evil",
           "//evil.example", " //evil.example", "https://evil.example", "https://evil.example/console/",
           "http:/evil.example", "/\\evil", "\\\\evil.example", "javascript:alert(1)", "evil.example/x", ""]


@pytest.mark.parametrize("target", REFUSED)
def test_safe_next_refuses_what_leaves_the_site(target):
    assert safe_next(target) is None


@pytest.mark.parametrize("target, expected", [
    ("/console/members?q=anna", "/console/members?q=anna"),
    ("/wallet", "/wallet"),
    ("/coupons?tab=history&page=2", "/coupons?tab=history&page=2"),
    ("/console/?", "/console/"),  # request.full_path of a page without a query
    (None, None),
])
def test_safe_next_keeps_local_paths(target, expected):
    assert safe_next(target) == expected


@pytest.mark.parametrize("target", REFUSED)
def test_console_login_goes_to_the_dashboard_instead(console, admin, target):
    response = console.login(admin.email, next=target)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    # Already signed in, the login page sends a `next` it is given the same way.
    again = console.get("/console/login", query_string={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == "/console/"


@pytest.mark.parametrize("target", REFUSED)
def test_member_login_goes_to_the_wallet_instead(portal, member, target):  # noqa: F811
    response = portal.login(member.email, PASSWORD, next=target)
    assert response.status_code == 302 and response.location == "/wallet"


@pytest.mark.parametrize("target", REFUSED)
def test_member_login_page_does_not_carry_a_refused_next(portal, target):  # noqa: F811
    login_page = portal.page("/login", query_string={"next": target})
    assert login_page.one("main input[name=next]").get("value") in (None, "")
