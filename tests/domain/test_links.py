"""One-time links (portal/domain/links.py), the mechanism behind member and staff mails: stored as a digest,
opened without change, used once, void after expiry or when ended."""
from __future__ import annotations

import datetime as dt

import time_machine

from portal.domain import links
from portal.domain.passwords import digest
from portal.domain.self_service import PASSWORD_RESET, MemberToken
from tests import factories


def make_link(session, org, lifetime=dt.timedelta(hours=1), purpose=PASSWORD_RESET):
    member = factories.make_member(session, org)
    link, token = links.new_link(MemberToken, lifetime, organization_id=org.id, member_id=member.id,
                                 purpose=purpose)
    session.add(link)
    session.flush()
    return member, link, token


def test_only_the_digest_is_stored_and_opening_changes_nothing(session, org):
    _, link, token = make_link(session, org)
    assert link.token_hash == digest(token) and token not in link.token_hash
    assert links.open_link(session, MemberToken, token) is link
    assert links.open_link(session, MemberToken, token) is link and link.used_at is None


def test_a_link_is_used_once(session, org):
    _, link, token = make_link(session, org)
    assert links.use_link(session, MemberToken, link) is True
    assert links.use_link(session, MemberToken, link) is False  # the second (or a concurrent) use loses
    session.expire(link)
    assert link.used_at is not None and links.open_link(session, MemberToken, token) is None


def test_criteria_unknown_and_overlong_tokens_open_nothing(session, org):
    _, _, token = make_link(session, org)
    assert links.open_link(session, MemberToken, token, MemberToken.purpose == "other") is None
    assert links.open_link(session, MemberToken, token + "x") is None
    assert links.open_link(session, MemberToken, "") is None
    assert links.open_link(session, MemberToken, token + "x" * links.MAX_TOKEN_LENGTH) is None


def test_an_expired_link_can_be_neither_opened_nor_used(session, org):
    _, link, token = make_link(session, org, lifetime=dt.timedelta(minutes=5))
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=6)):
        assert links.open_link(session, MemberToken, token) is None
        assert links.use_link(session, MemberToken, link) is False


def test_void_links_ends_only_the_matching_open_links(session, org):
    member, _, token = make_link(session, org)
    _, _, other = make_link(session, org)
    links.void_links(session, MemberToken, MemberToken.member_id == member.id)
    assert links.open_link(session, MemberToken, token) is None
    assert links.open_link(session, MemberToken, other) is not None
