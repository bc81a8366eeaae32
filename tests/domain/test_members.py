"""Members: card codes, identifiers, uniqueness, lookup and Convercus search."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import func, select

from portal.domain import members
from portal.domain.errors import DuplicateValue, NotFound, ValidationFailed
from portal.domain.outbox import OutboxEvent
from portal.domain.members import CODE_ALPHABET, Identifier, Member

from ..factories import make_member
from .conftest import fails_cleanly

# --- card codes ----------------------------------------------------------------------------


def test_generated_card_codes_are_valid_and_unambiguous():
    codes = {members.generate_card_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == members.CARDCODE_LENGTH
        assert set(code) <= set(CODE_ALPHABET) and not set(code) & set("01OIL")
        assert members.is_valid_card_code(code)
        assert members.is_valid_card_code(f"  {code.lower()} ")


def _single_typos(code: str):
    for i, char in enumerate(code):
        for other in CODE_ALPHABET:
            if other != char:
                yield code[:i] + other + code[i + 1:]


def _adjacent_swaps(code: str):
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            yield code[:i] + code[i + 1] + code[i] + code[i + 2:]


def test_every_single_typo_and_adjacent_swap_is_detected():
    rng = random.Random(20261123)
    payloads = ["".join(rng.choice(CODE_ALPHABET) for _ in range(9)) for _ in range(300)]
    # The pairs that defeat Luhn mod N (first and last character of the alphabet) must be caught too.
    payloads += ["2Z" * 4 + "2", "Z2" * 4 + "Z", "222222222", "ZZZZZZZZZ"]
    checked = 0
    for payload in payloads:
        code = payload + members.check_character(payload)
        assert members.is_valid_card_code(code)
        for wrong in list(_single_typos(code)) + list(_adjacent_swaps(code)):
            assert not members.is_valid_card_code(wrong), f"{wrong} passes for {code}"
            checked += 1
    assert checked > 300 * (10 * 30)


@pytest.mark.parametrize("code", ["", "ABC", "23456789AB2", "0123456789", "23456789A!"])
def test_malformed_card_codes_are_invalid(code):
    assert not members.is_valid_card_code(code)


# --- creating members ---------------------------------------------------------------------------

def test_a_new_member_gets_a_card_code_and_a_loyalty_member_id(session, org):
    member = members.create_member(session, org.id, actor=org.actor,
                                   profile={"email": " Ann@Example.COM ", "givenName": "Ann", "countryCode": "de"})
    assert member.email == "ann@example.com" and member.country_code == "DE"
    assert member.loyalty_member_id and len(member.loyalty_member_id) == 11
    identifiers = members.identifiers_of(session, member.id)
    assert [i.type for i in identifiers] == ["CARDCODE"]
    assert members.is_valid_card_code(identifiers[0].code)
    assert members.card_code_of(session, member.id) == identifiers[0].code
    assert session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.member_id == member.id, OutboxEvent.event_type == "member-created")) == 1


@pytest.mark.parametrize("email", ["ann@example.com", "ANN@example.com", " ann@EXAMPLE.com"])
def test_duplicate_email_is_refused(session, org, email):
    make_member(session, org, email="ann@example.com")
    with fails_cleanly(session, DuplicateValue) as error:
        members.create_member(session, org.id, actor=org.actor, profile={"email": email})
    assert error.value.field == "profile.email"


def test_the_same_email_may_exist_in_another_organisation(session, org, other_org):
    make_member(session, org, email="ann@example.com")
    assert make_member(session, other_org, email="ann@example.com").email == "ann@example.com"


def test_changing_email_to_a_taken_one_is_refused(session, org):
    make_member(session, org, email="ann@example.com")
    bob = make_member(session, org, email="bob@example.com")
    with fails_cleanly(session, DuplicateValue) as error:
        members.update_member(session, bob, actor=org.actor, profile={"email": "ANN@example.com"})
    assert error.value.field == "profile.email"
    assert session.get(Member, bob.id).email == "bob@example.com"


def test_duplicate_loyalty_member_id_is_refused(session, org):
    members.create_member(session, org.id, actor=org.actor, loyalty_member_id="L-1")
    with fails_cleanly(session, DuplicateValue) as error:
        members.create_member(session, org.id, actor=org.actor, loyalty_member_id="L-1")
    assert error.value.field == "loyaltyMemberId"


@pytest.mark.parametrize("profile, field", [
    ({"email": "not-an-email"}, "profile.email"),
    ({"birthDate": "2999-01-01"}, "profile.birthDate"),
    ({"birthDate": "31.12.1990"}, "profile.birthDate"),
    ({"countryCode": "D1"}, "profile.countryCode"),
    ({"balance": 100}, "profile.balance"),
])
def test_invalid_profiles_name_the_field(session, org, profile, field):
    with fails_cleanly(session, ValidationFailed) as error:
        members.create_member(session, org.id, actor=org.actor, profile=profile)
    assert error.value.field == field


# --- identifiers and lookup ----------------------------------------------------------------------

@pytest.fixture
def ann(session, org):
    member = make_member(session, org, email="ann@example.com", givenName="Ann", familyName="Smith",
                         city="Berlin", zipCode="10115", birthDate="1990-05-17")
    members.add_identifier(session, member, "APPCODE", "app-ann-1", actor=org.actor)
    members.add_identifier(session, member, "EXTERNALCODE", "EXT-9", actor=org.actor)
    return member


@pytest.mark.parametrize("id_type", ["CARDCODE", "APPCODE", "EXTERNALCODE", "ID"])
def test_lookup_by_each_identifier_type(session, org, ann, id_type):
    make_member(session, org)  # somebody else, not to be found
    code = {"CARDCODE": members.card_code_of(session, ann.id), "APPCODE": "app-ann-1", "EXTERNALCODE": "EXT-9",
            "ID": str(ann.id)}[id_type]
    assert members.lookup(session, org.id, id_type, code).id == ann.id


def test_card_code_lookup_ignores_case_and_spaces(session, org, ann):
    code = members.card_code_of(session, ann.id)
    assert members.lookup(session, org.id, "cardcode", f" {code.lower()} ").id == ann.id


def test_app_and_external_codes_are_exact(session, org, ann):
    with fails_cleanly(session, NotFound):
        members.lookup(session, org.id, "APPCODE", "APP-ANN-1")


def test_lookup_never_crosses_organisations(session, org, other_org, ann):
    code = members.card_code_of(session, ann.id)
    for id_type, value in (("CARDCODE", code), ("APPCODE", "app-ann-1"), ("ID", str(ann.id))):
        with fails_cleanly(session, NotFound):
            members.lookup(session, other_org.id, id_type, value)


@pytest.mark.parametrize("id_type, code", [("ID", "abc"), ("CARDCODE", "NOPE"), ("EXTERNALCODE", "x")])
def test_unknown_codes_are_not_found(session, org, ann, id_type, code):
    with fails_cleanly(session, NotFound):
        members.lookup(session, org.id, id_type, code)


def test_unknown_id_type_is_invalid(session, org, ann):
    with fails_cleanly(session, ValidationFailed) as error:
        members.lookup(session, org.id, "PHONE", "123")
    assert error.value.field == "idType"


def test_duplicate_identifier_is_refused_within_the_organisation(session, org, other_org, ann):
    bob = make_member(session, org)
    with fails_cleanly(session, DuplicateValue) as error:
        members.add_identifier(session, bob, "APPCODE", "app-ann-1", actor=org.actor)
    assert error.value.field == "code"
    # Another type, or another organisation, may use the same code.
    members.add_identifier(session, bob, "EXTERNALCODE", "app-ann-1", actor=org.actor)
    stranger = make_member(session, other_org)
    members.add_identifier(session, stranger, "APPCODE", "app-ann-1", actor=other_org.actor)
    assert members.lookup(session, other_org.id, "APPCODE", "app-ann-1").id == stranger.id


def test_a_card_code_identifier_needs_a_valid_check_character(session, org, ann):
    good = members.generate_card_code()
    bad = good[:-1] + next(c for c in CODE_ALPHABET if c != good[-1])
    with fails_cleanly(session, ValidationFailed) as error:
        members.add_identifier(session, ann, "CARDCODE", bad, actor=org.actor)
    assert error.value.field == "code"
    members.add_identifier(session, ann, "CARDCODE", good.lower(), actor=org.actor)
    assert members.lookup(session, org.id, "CARDCODE", good).id == ann.id
    assert session.scalar(select(func.count()).select_from(Identifier).where(Identifier.member_id == ann.id)) == 4


@pytest.mark.parametrize("id_type, code", [("FAXCODE", "1"), ("APPCODE", "   ")])
def test_identifier_type_and_code_are_checked(session, org, ann, id_type, code):
    with fails_cleanly(session, ValidationFailed):
        members.add_identifier(session, ann, id_type, code, actor=org.actor)


# --- search (Convercus semantics) -----------------------------------------------------------------

@pytest.fixture
def people(session, org, ann):
    others = {
        "anna": make_member(session, org, email="anna@example.org", givenName="Anna", familyName="Berg",
                            city="Hamburg", zipCode="20095", birthDate="1990-05-17"),
        "tom": make_member(session, org, email="tom@shop.de", givenName="Tom", familyName="Smith",
                           city="Berlin", zipCode="10117", birthDate="1985-01-02"),
    }
    return {"ann": ann, **others}


def found(session, org, term) -> set[str]:
    names = {m.id: m.given_name.lower() for m in session.scalars(select(Member).where(
        Member.organization_id == org.id))}
    return {names[m.id] for m in session.scalars(members.search_query(org.id, term))}


@pytest.mark.parametrize("term, expected", [
    ("smith", {"ann", "tom"}),                 # family name, any case
    ("ann", {"ann", "anna"}),                  # given name prefix
    ("berlin", {"ann", "tom"}),                # city
    ("101", {"ann", "tom"}),                   # zip prefix
    ("10115", {"ann"}),                        # exact zip
    ("shop.de", {"tom"}),                      # part of the email
    ("smith berlin", {"ann", "tom"}),          # every value must match ...
    ("smith 10117", {"tom"}),                  # ... some field: ANDed
    ("anna hamburg 20095", {"anna"}),
    ("smith hamburg", set()),
    ("EXT-9", {"ann"}),                        # an identifier
    ("app-ann", {"ann"}),                      # identifier prefix
    ("1990-05-17", {"ann", "anna"}),           # birth date alone
    ("1985-01-02", {"tom"}),
    ("nobody", set()),
    ("%", set()),                              # LIKE wildcards are literal
    ("_", set()),
])
def test_search_ands_values_across_fields(session, org, people, term, expected):
    assert found(session, org, term) == expected


def test_search_by_card_code(session, org, people):
    code = members.card_code_of(session, people["tom"].id)
    assert found(session, org, code.lower()) == {"tom"}
    assert found(session, org, f"{code} smith") == {"tom"}


@pytest.mark.parametrize("term", ["1990-05-17 smith", "ann 1990-05-17", "1990-05-17 1985-01-02"])
def test_birth_date_cannot_be_combined(session, org, people, term):
    with fails_cleanly(session, ValidationFailed) as error:
        members.search_query(org.id, term)
    assert error.value.field == "q"


@pytest.mark.parametrize("term", ["", "   ", "1990-13-45"])
def test_empty_or_impossible_search_is_invalid(session, org, term):
    with fails_cleanly(session, ValidationFailed):
        members.search_query(org.id, term)


def test_search_stays_in_the_organisation(session, org, other_org, people):
    make_member(session, other_org, givenName="Smithers", familyName="Smith", city="Berlin")
    assert found(session, org, "smith") == {"ann", "tom"}
    assert {m.given_name for m in session.scalars(members.search_query(other_org.id, "smith"))} == {"Smithers"}


def test_search_skips_erased_members(session, org, people):
    people["tom"].erased_at = dt.datetime.now(dt.timezone.utc)
    session.flush()
    assert found(session, org, "smith") == {"ann"}


def test_updating_a_member_changes_only_what_was_given(session, org, ann):
    members.update_member(session, ann, actor=org.actor, profile={"city": "Munich"}, custom_attributes={"a": 1})
    members.update_member(session, ann, actor=org.actor, custom_attributes={"b": 2}, account_status="LOCKED")
    session.expire_all()
    stored = session.get(Member, ann.id)
    assert (stored.city, stored.given_name, stored.email) == ("Munich", "Ann", "ann@example.com")
    assert stored.custom_attributes == {"a": 1, "b": 2}
    assert stored.account_status == "LOCKED" and not stored.can_move_points
    with fails_cleanly(session, ValidationFailed):
        members.update_member(session, stored, actor=org.actor, account_status="GONE")
