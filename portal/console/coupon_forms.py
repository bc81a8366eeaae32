"""Console forms for coupon books and their codes: shape only.

Whether a DISCOUNT has a discount type, a percentage stays at most 100, a code
is valid or a pool is long enough to be unguessable is `portal.domain.coupons`'s
to say; its errors come back onto these fields (`place_error`).
"""
from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (BooleanField, DecimalField, IntegerField, SelectField, StringField, SubmitField,
                     TextAreaField)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from ..domain.context import WEEKDAYS
from ..domain.coupons import DISCOUNT, EXTRAPOINT, FIXED, MULTIPLIER, PERCENTAGE, PUBLISHING_STATUSES, REWARD
from ..domain.ledger import MAX_AMOUNT
from .fields import (MAX_UPLOAD_BYTES, UPLOAD_TOO_LARGE, CheckboxesField, Choice, SubmitOnceForm,
                     ValidityWindowForm, csv_list)

# The API's bound for limits (one billion is "no practical limit").
MAX_LIMIT = 10 ** 9

TYPE_LABELS = {DISCOUNT: "Discount", REWARD: "Reward (bought with points)",
               EXTRAPOINT: "Extra points (automatic with a purchase)",
               MULTIPLIER: "Points multiplier (automatic with a purchase)"}
STATUS_LABELS = {"draft": "Draft", "published": "Published", "disabled": "Disabled", "archived": "Archived"}
# The book's texts per locale: (domain name, form suffix, label, max length).
TEXTS = (("title", "title", "Title", 200), ("subtitle", "subtitle", "Subtitle", 200),
         ("description", "description", "Description", 4000),
         ("bookingText", "booking_text", "Booking text (receipt)", 200))
# Domain field names (API spelling) -> form field names.
BOOK_FIELDS = {"type": "type", "name": "name", "discountType": "discount_type", "discountAmount": "discount_amount",
               "validFromDate": "valid_from", "validToDate": "valid_to",
               "maxAssignedPerMember": "max_assigned_per_member", "maxAssignedPerCoupon": "max_assigned_per_coupon",
               "maxCouponCount": "max_coupon_count", "assignmentRequiredPoints": "assignment_required_points",
               "usageRequiredPoints": "usage_required_points", "audienceKeys": "audience_keys"}
# The book's condition (coupons/conditions.py): condition field -> form field; lists are comma-separated.
CONDITION_LISTS = {"includedProducts": "included_products", "excludedProducts": "excluded_products",
                   "includedCategories": "included_categories", "excludedCategories": "excluded_categories",
                   "locationCodes": "location_codes"}
CONDITION_FIELDS = {"minTotal": "min_total", **CONDITION_LISTS, "daysOfWeek": "days_of_week",
                    "fromTime": "from_time", "toTime": "to_time", "firstPurchaseOnly": "first_purchase_only",
                    "combinable": "not_combinable"}


def text_field_name(locale: str, suffix: str) -> str:
    return f"text_{locale.replace('-', '_')}_{suffix}"


def _whole(label: str, minimum: int, maximum: int, **kwargs) -> IntegerField:
    return IntegerField(label, validators=[Optional(), NumberRange(minimum, maximum)], **kwargs)


class CouponBookForm(SubmitOnceForm, ValidityWindowForm):
    name = StringField("Name (staff only)", validators=[InputRequired(), Length(max=200)])
    type = SelectField("Type", choices=[Choice(k, v) for k, v in TYPE_LABELS.items()])
    discount_type = SelectField("Discount type", default="", choices=[Choice("", "—"), Choice(PERCENTAGE, "Percentage off"),
                                                          Choice(FIXED, "Fixed amount off")])
    discount_amount = DecimalField("Value", places=2, validators=[Optional()])
    max_assigned_per_member = _whole("Per member", 1, MAX_LIMIT)
    max_assigned_per_coupon = _whole("Per code", 1, MAX_LIMIT, default=1)
    max_coupon_count = _whole("In total", 1, MAX_LIMIT)
    assignment_required_points = _whole("Points to claim", 0, MAX_AMOUNT, default=0)
    usage_required_points = _whole("Points to use", 0, MAX_AMOUNT, default=0)
    activatable = BooleanField("Members must activate it before use")
    tiers = CheckboxesField("Tiers allowed (none = every member)", coerce=str, validate_choice=False)
    audience_keys = CheckboxesField("Audiences allowed (none = every member)", coerce=str, validate_choice=False)
    min_total = DecimalField("Minimum purchase", places=2, validators=[Optional(), NumberRange(0, 10 ** 11)])
    included_products = StringField("Only with these products (SKUs, comma-separated)",
                                    validators=[Length(max=5000)])
    included_categories = StringField("Only with these categories (comma-separated)", validators=[Length(max=5000)])
    excluded_products = StringField("Never on these products (SKUs)", validators=[Length(max=5000)])
    excluded_categories = StringField("Never on these categories", validators=[Length(max=5000)])
    location_codes = StringField("Only in these stores (location codes)", validators=[Length(max=5000)])
    days_of_week = CheckboxesField("Only on these days (none = every day)",
                                   choices=[Choice(d, d.capitalize()) for d in WEEKDAYS])
    from_time = StringField("From (HH:MM)", validators=[Optional(), Length(max=5)])
    to_time = StringField("To (HH:MM)", validators=[Optional(), Length(max=5)])
    first_purchase_only = BooleanField("Only on the member's first purchase")
    not_combinable = BooleanField("Cannot be combined with other coupons on one purchase")
    tags = StringField("Tags (comma-separated)", validators=[Length(max=1000)])
    external_reference = StringField("External reference (for the till)", validators=[Optional(), Length(max=255)])
    picture_url = StringField("Picture URL", validators=[
        Optional(), Length(max=1000), Regexp(r"^https?://\S+$", message="Give an http:// or https:// address")])

    locales: tuple[str, ...] = ()

    @classmethod
    def for_organization(cls, locales: list[str], tiers, audiences=(), **kwargs) -> "CouponBookForm":
        """The form with text fields for each of the organisation's locales, its tiers and audiences as choices."""
        attributes = {text_field_name(locale, suffix): (TextAreaField if name == "description" else StringField)(
                          f"{label} ({locale})", validators=[Optional(), Length(max=limit)])
                      for locale in locales for name, suffix, label, limit in TEXTS}
        form = type("CouponBookForm", (cls,), {**attributes, "locales": tuple(locales)})(**kwargs)
        form.tiers.choices = [Choice(str(t.id), t.name) for t in tiers]
        form.audience_keys.choices = [Choice(a.name, a.name) for a in audiences]
        return form

    def condition(self) -> dict:
        """The book's condition from its fields (the domain checks it: coupons.conditions.clean)."""
        condition: dict = {}
        if self.min_total.data is not None:
            condition["minTotal"] = str(self.min_total.data)
        for name, form_name in CONDITION_LISTS.items():
            if csv_list(self[form_name].data):
                condition[name] = csv_list(self[form_name].data)
        if self.days_of_week.data:
            condition["daysOfWeek"] = list(self.days_of_week.data)
        for name, form_name in (("fromTime", "from_time"), ("toTime", "to_time")):
            if (self[form_name].data or "").strip():
                condition[name] = self[form_name].data.strip()
        if self.first_purchase_only.data:
            condition["firstPurchaseOnly"] = True
        if self.not_combinable.data:
            condition["combinable"] = False
        return condition

    def text_fields(self, locale: str) -> list:
        return [self[text_field_name(locale, suffix)] for _, suffix, _, _ in TEXTS]

    def fields(self) -> dict:
        """The domain's keyword arguments, type aside."""
        i18n = {}
        for locale in self.locales:
            entry = {name: self[text_field_name(locale, suffix)].data.strip()
                     for name, suffix, _, _ in TEXTS if (self[text_field_name(locale, suffix)].data or "").strip()}
            if entry:
                i18n[locale] = entry
        return {
            "name": self.name.data.strip(),
            "discount_type": self.discount_type.data or None,
            "discount_amount": self.discount_amount.data,
            **self.window(),
            "max_assigned_per_member": self.max_assigned_per_member.data,
            "max_assigned_per_coupon": self.max_assigned_per_coupon.data,
            "max_coupon_count": self.max_coupon_count.data,
            "assignment_required_points": self.assignment_required_points.data or 0,
            "usage_required_points": self.usage_required_points.data or 0,
            "activatable": bool(self.activatable.data),
            "tiers": list(self.tiers.data or []),
            "audience_keys": list(self.audience_keys.data or []),
            "condition": self.condition(),
            "tags": csv_list(self.tags.data),
            "external_reference": (self.external_reference.data or "").strip() or None,
            "i18n": i18n,
            "picture_url": (self.picture_url.data or "").strip() or None,
        }

    def fill(self, book) -> "CouponBookForm":
        self.name.data = book.name
        if self.type is not None:
            self.type.data = book.type
        self.discount_type.data = book.discount_type or ""
        self.discount_amount.data = book.discount_amount
        self.fill_window(book)
        self.max_assigned_per_member.data = book.max_assigned_per_member
        self.max_assigned_per_coupon.data = book.max_assigned_per_coupon
        self.max_coupon_count.data = book.max_coupon_count
        self.assignment_required_points.data = book.assignment_required_points
        self.usage_required_points.data = book.usage_required_points
        self.activatable.data = book.activatable
        self.tiers.data = list(book.tiers or [])
        self.audience_keys.data = list(book.audience_keys or [])
        condition = book.condition or {}
        self.min_total.data = Decimal(str(condition["minTotal"])) if "minTotal" in condition else None
        for name, form_name in CONDITION_LISTS.items():
            self[form_name].data = ", ".join(condition.get(name, []))
        self.days_of_week.data = list(condition.get("daysOfWeek", []))
        self.from_time.data, self.to_time.data = condition.get("fromTime", ""), condition.get("toTime", "")
        self.first_purchase_only.data = bool(condition.get("firstPurchaseOnly"))
        self.not_combinable.data = condition.get("combinable", True) is False
        self.tags.data = ", ".join(book.tags or [])
        self.external_reference.data = book.external_reference or ""
        self.picture_url.data = book.picture_url or ""
        for locale in self.locales:
            entry = (book.i18n or {}).get(locale, {})
            for name, suffix, _, _ in TEXTS:
                self[text_field_name(locale, suffix)].data = entry.get(name, "")
        return self

    def place_error(self, error) -> tuple[str | None, str]:
        """The form field showing a domain error (None: above the form), and its message."""
        return self._field_for(error.field or ""), error.message

    def _field_for(self, name: str) -> str | None:
        if name.startswith("tiers"):
            return "tiers"
        if name.startswith("condition."):
            return CONDITION_FIELDS.get(name.split(".", 1)[1])
        if name.startswith("i18n."):
            _, locale, *text = name.split(".")
            suffix = next((s for n, s, _, _ in TEXTS if text and n == text[0]), None)
            return text_field_name(locale, suffix) if suffix and locale in self.locales else None
        return BOOK_FIELDS.get(name)


class PublishingStatusForm(FlaskForm):
    status = SelectField("Status", choices=[Choice(s, STATUS_LABELS[s]) for s in PUBLISHING_STATUSES])


class GenerateCodesForm(SubmitOnceForm):
    """The domain checks the ranges (count, prefix characters, a length that keeps codes unguessable)."""
    count = IntegerField("How many codes", validators=[InputRequired("Give a whole number of codes")])
    prefix = StringField("Prefix (optional)", validators=[Optional(), Length(max=20)])
    length = IntegerField("Length (optional)", validators=[Optional()])

    DOMAIN_FIELDS = {"generate.count": "count", "generate.prefix": "prefix", "generate.length": "length"}


class UploadCodesForm(FlaskForm):
    file = FileField("CSV file", validators=[
        FileRequired("Choose a CSV file"),
        FileSize(MAX_UPLOAD_BYTES, message=UPLOAD_TOO_LARGE)])
    check_only = SubmitField("Check only")
    import_codes = SubmitField("Import codes")

    DOMAIN_FIELDS = {"codes": "file"}


class CodeFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    codes = SelectField("Show codes", choices=[Choice("", "All"), Choice("free", "Free"),
                                               Choice("assigned", "Assigned"), Choice("used", "Used")],
                        validate_choice=False)


class BookFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField("Status", choices=[Choice("", "All")] + [Choice(s, STATUS_LABELS[s])
                                                                    for s in PUBLISHING_STATUSES],
                         validate_choice=False)
