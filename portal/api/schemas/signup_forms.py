"""Request and response shapes of the signup form routes (the Coniq open signup API, in camelCase)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from ...domain.signup_forms import MAX_CONSENTS, MAX_FIELDS, MAX_ORIGINS, PURPOSES
from ...domain.self_service import LOCALES
from .common import Id, In, ListQuery, Name, Out, PageOut, patch_of

Purpose = Literal[PURPOSES]  # type: ignore[valid-type]
FieldKey = Annotated[str, StringConstraints(min_length=1, max_length=60)]
ConsentKey = Annotated[str, StringConstraints(min_length=1, max_length=30)]
ThankYou = Annotated[str, StringConstraints(max_length=2000)]
Url = Annotated[str, StringConstraints(max_length=1000)]
Origins = Annotated[list[Annotated[str, StringConstraints(max_length=300)]], Field(max_length=MAX_ORIGINS)]
Value = Annotated[str, StringConstraints(max_length=1000)]


class FieldIn(In):
    key: FieldKey = Field(description="profile.<givenName|familyName|birthDate|phone|street|zipCode|city|"
                                      "countryCode> or customAttributes.<name>; profile.email is always asked")
    label: Annotated[str, StringConstraints(max_length=200)] = Field("", description="Custom attributes only")
    required: bool = False


class ConsentIn(In):
    key: ConsentKey = Field(description="email and sms set those opt-ins of the member")
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    required: bool = False


class SignupFormIn(In):
    name: Name
    purpose: Purpose = Field(description="newsletter | offer (assigns couponBookId) | loyalty_card")
    fields: Annotated[list[FieldIn], Field(max_length=MAX_FIELDS)] = Field(default_factory=list)
    consents: Annotated[list[ConsentIn], Field(max_length=MAX_CONSENTS)] = Field(default_factory=list)
    thank_you_text: ThankYou = ""
    redirect_url: Url | None = Field(None, description="Where the partner page goes after a submission")
    allowed_origins: Origins = Field(default_factory=list, description="Origins allowed to frame the form")
    coupon_book_id: Id | None = None
    active: bool = True


class SignupFormUpdate(patch_of(SignupFormIn)):
    """Only the fields sent change."""

    redirect_url: Url | None = Field(None, description="Where the partner page goes after a submission; null "
                                                       "removes it")


class SignupFormListQuery(ListQuery):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    order: Literal["createdAt", "createdAt,asc", "createdAt,desc", "id", "id,asc", "id,desc", "name", "name,asc",
                   "name,desc"] | None = None
    active: bool | None = None


class FieldOut(Out):
    key: str
    label: str
    type: str = Field(description="email | text | date | tel")
    required: bool
    max_length: int


class ConsentOut(Out):
    key: str
    text: str
    required: bool


class PublicSignupFormOut(Out):
    public_id: str
    name: str
    purpose: str
    fields: list[FieldOut]
    consents: list[ConsentOut]
    thank_you_text: str
    redirect_url: str | None


class SignupFormOut(PublicSignupFormOut):
    id: int
    organization_id: int
    allowed_origins: list[str]
    coupon_book_id: int | None
    active: bool
    embed_url: str
    embed_code: str = Field(description="The <script> tag a partner pastes into a page")
    signup_count: int = Field(description="Members who joined through this form")
    created_at: dt.datetime
    updated_at: dt.datetime


class SignupFormEnvelope(Out):
    signup_form: SignupFormOut


class SignupFormPage(PageOut):
    results: list[SignupFormOut]


class PublicQuery(In):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    locale: Literal[LOCALES] | None = Field(None, description="Language of the field labels")  # type: ignore[valid-type]


class PublicSignupFormEnvelope(Out):
    signup_form: PublicSignupFormOut


class SubmissionIn(In):
    profile: Annotated[dict[Annotated[str, StringConstraints(max_length=40)], Value | None],
                       Field(max_length=20)] = Field(default_factory=dict, description="email and the asked fields")
    custom_attributes: Annotated[dict[Annotated[str, StringConstraints(max_length=40)], Value | None],
                                 Field(max_length=20)] = Field(default_factory=dict)
    consents: Annotated[dict[ConsentKey, bool], Field(max_length=MAX_CONSENTS)] = Field(
        default_factory=dict, description="Consent key -> given")
    locale: Literal[LOCALES] = "en"  # type: ignore[valid-type]


class SubmissionOut(Out):
    status: Literal["accepted"] = "accepted"
    message: str = Field(description="The form's thank-you text; the same for a new and a registered email")
    redirect_url: str | None
