"""Barcodes (Coniq, in camelCase as API.md says)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ...domain.barcodes import CHANNELS, OFFER_TYPES
from .common import In, IntegerId, Out, PageOut, StrictListQuery


class BarcodeIn(In):
    offer_id: IntegerId
    customer_id: IntegerId
    channel: Literal[CHANNELS]  # type: ignore[valid-type]
    tracking_code: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    offer_type: Literal[OFFER_TYPES] = Field("COUPON_BOOK",  # type: ignore[valid-type]
                                             description="What offerId names: a coupon book or a loyalty programme")


class BarcodeBatchIn(In):
    barcodes: Annotated[list[BarcodeIn], Field(min_length=1, max_length=200)]


class BarcodeOut(Out):
    barcode_number: str
    offer_id: IntegerId
    offer_type: str
    customer_id: IntegerId
    channel: str
    tracking_code: str | None
    image_url: str
    png_url: str
    active: bool
    expiry_date: dt.date | None
    created_at: dt.datetime


class BarcodeEnvelope(Out):
    barcode: BarcodeOut


class BarcodesOut(Out):
    barcodes: list[BarcodeOut]


class BarcodePage(PageOut):
    results: list[BarcodeOut]


class BarcodeListQuery(StrictListQuery):
    customer_id: IntegerId | None = None
    offer_id: IntegerId | None = None
    offer_type: Literal[OFFER_TYPES] | None = None  # type: ignore[valid-type]
    tracking_code: Annotated[str, StringConstraints(max_length=100)] | None = None


class ScannedMemberOut(Out):
    id: int
    loyalty_member_id: str
    account_status: str


class ScannedOfferOut(Out):
    offer_type: str
    id: int
    name: str


class BarcodeScanOut(Out):
    barcode: BarcodeOut
    member: ScannedMemberOut
    offer: ScannedOfferOut
    account_coupon_id: str | None
