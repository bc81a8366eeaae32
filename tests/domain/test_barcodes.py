"""Barcodes without HTTP: numbers, offers, batches, images."""
from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.domain import barcodes, coupons
from portal.domain.barcodes import Barcode, BarcodeRequest
from portal.domain.errors import ValidationFailed
from tests.factories import make_member


def book_for(session, org, **fields):
    return coupons.create_book(session, org.id, actor=org.actor, name="Offer", type="REWARD",
                               publishing_status="published", **fields)


def rows(session):
    session.flush()
    return session.scalar(select(func.count()).select_from(Barcode))


def test_numbers_are_restricted_circulation_ean13():
    numbers = {barcodes.new_number() for _ in range(2000)}
    assert len(numbers) == 2000
    for number in numbers:
        assert len(number) == 13 and number.startswith("2") and barcodes.is_ean13(number)
    assert barcodes.ean13_check_digit("400638133393") == "1"  # a real EAN: 4006381333931
    assert not barcodes.is_ean13("4006381333932")


def test_barcode_for_a_coupon_book_takes_expiry_and_activation_from_it(session, org):
    member = make_member(session, org)
    book = book_for(session, org, valid_to=dt.datetime(2027, 3, 31, 22, 0, tzinfo=dt.timezone.utc), activatable=True)
    barcode = barcodes.create_barcode(session, org.id, BarcodeRequest(offer_id=book.id, customer_id=member.id,
                                                                      channel="MAIL", tracking_code="spring"),
                                      actor=org.actor)
    assert barcode.expiry_date == dt.date(2027, 3, 31) and barcode.offer_type == "COUPON_BOOK"
    assert barcodes.is_active(session, barcode, today=dt.date(2027, 1, 1)) is False
    coupons.set_activation(session, member, book, True, actor=org.actor)
    assert barcodes.is_active(session, barcode, today=dt.date(2027, 1, 1)) is True
    assert barcodes.is_active(session, barcode, today=dt.date(2027, 4, 1)) is False
    program_code = barcodes.create_barcode(session, org.id, BarcodeRequest(
        offer_id=org.program.id, customer_id=member.id, channel="SMS", offer_type="LOYALTY_PROGRAM"), actor=org.actor)
    assert program_code.expiry_date is None and barcodes.offer_of(session, program_code).name == org.program.name


def test_batch_is_all_or_nothing(session, org, other_org):
    members = [make_member(session, org) for _ in range(3)]
    book = book_for(session, org)
    stranger = make_member(session, other_org)
    good = [BarcodeRequest(offer_id=book.id, customer_id=m.id, channel="PAPER") for m in members]
    with pytest.raises(ValidationFailed) as info:
        barcodes.create_barcodes(session, org.id, good + [BarcodeRequest(offer_id=book.id, customer_id=stranger.id,
                                                                          channel="PAPER")], actor=org.actor)
    assert info.value.field == "barcodes[3].customerId"
    with pytest.raises(ValidationFailed) as info:
        barcodes.create_barcodes(session, org.id, good * 67, actor=org.actor)  # 201
    assert info.value.field == "barcodes"
    assert rows(session) == 0
    created = barcodes.create_barcodes(session, org.id, (good * 67)[:200], actor=org.actor)
    assert len({b.barcode_number for b in created}) == 200 and rows(session) == 200


def test_offer_must_exist_in_the_organisation(session, org, other_org):
    member = make_member(session, org)
    theirs = book_for(session, other_org)
    for request in (BarcodeRequest(offer_id=theirs.id, customer_id=member.id, channel="PAPER"),
                    BarcodeRequest(offer_id=other_org.program.id, customer_id=member.id, channel="PAPER",
                                   offer_type="LOYALTY_PROGRAM"),
                    BarcodeRequest(offer_id=theirs.id, customer_id=member.id, channel="FAX")):
        with pytest.raises(ValidationFailed):
            barcodes.create_barcode(session, org.id, request, actor=org.actor)


def test_images_are_valid_svg_and_png():
    number = barcodes.new_number()
    for symbology in (barcodes.CODE128, barcodes.EAN13):
        root = ET.fromstring(barcodes.render_svg(number, symbology))
        assert root.tag.endswith("svg")
        png = barcodes.render_png(number, symbology)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
    assert barcodes.symbology_for(number) == "code128"
    assert barcodes.symbology_for(number, "ean13") == "ean13"
    with pytest.raises(ValidationFailed):
        barcodes.symbology_for("12345678", "ean13")  # does not fit EAN-13
