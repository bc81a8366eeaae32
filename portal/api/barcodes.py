"""Barcodes (Coniq): create one or a batch, list, resolve a scanned number; and the images.

The images (`/barcodes/<number>.svg` and `.png`, outside /api) need no token:
they are drawn from the number in the URL alone and read nothing from the
database, so they answer the same for a number that exists and one that does
not, and tell a guesser nothing. That is what lets an e-mail or an SMS link
to them. Which member and offer a number belongs to is only answered by the
authenticated, organisation-scoped `GET .../barcodes/{barcodeNumber}`.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, abort, request

from ..domain import barcodes
from ..domain.barcodes import Barcode, BarcodeRequest
from ..domain.errors import DomainError
from ..urls import absolute_url
from .core import Call, endpoint, ok, page_response
from .schemas import barcodes as s

ORG = "/organizations/<int:organizationId>"
BARCODE_ORDER = {"createdAt": Barcode.created_at, "id": Barcode.id}
# Digits only, as our numbers are: nothing else can reach the renderer.
NUMBER = re.compile(r"^[0-9]{8,20}$")

images_bp = Blueprint("barcode_images", __name__)


@endpoint(f"{ORG}/barcodes", "POST", role="coupons:write", body=s.BarcodeIn, response=s.BarcodeEnvelope, status=201,
          tag="Barcodes", summary="A barcode linking a member (customerId) to an offer (coupon book or programme)")
def create_barcode(call: Call):
    barcode = barcodes.create_barcode(call.session, call.organization_id, _request(call.body), actor=call.actor)
    return ok(s.BarcodeEnvelope(barcode=barcode_out(call.session, barcode)).dump(), 201)


@endpoint(f"{ORG}/barcodes/batch", "POST", role="coupons:write", body=s.BarcodeBatchIn, response=s.BarcodesOut,
          status=201, tag="Barcodes", summary="Up to 200 barcodes, all or none")
def create_batch(call: Call):
    created = barcodes.create_barcodes(call.session, call.organization_id,
                                       [_request(item) for item in call.body.barcodes], actor=call.actor)
    return ok(s.BarcodesOut(barcodes=[barcode_out(call.session, b) for b in created]).dump(), 201)


@endpoint(f"{ORG}/barcodes", role="coupons:read", query=s.BarcodeListQuery, response=s.BarcodePage, tag="Barcodes",
          summary="Barcodes by customerId, offerId or trackingCode")
def list_barcodes(call: Call):
    q: s.BarcodeListQuery = call.query
    stmt = barcodes.barcodes_query(call.organization_id, customer_id=q.customer_id, offer_id=q.offer_id,
                                   offer_type=q.offer_type, tracking_code=q.tracking_code)
    return page_response(call, stmt, s.BarcodePage, lambda b: barcode_out(call.session, b), orders=BARCODE_ORDER)


@endpoint(f"{ORG}/barcodes/<barcodeNumber>", role="coupons:read", response=s.BarcodeScanOut, tag="Barcodes",
          summary="A scanned number: its member, its offer and, for a coupon book, the accountCouponId to redeem")
def scan(call: Call, barcodeNumber: str):
    from ..domain import coupons

    barcode = barcodes.get_barcode(call.session, call.organization_id, barcodeNumber)
    member = barcodes.member_of(call.session, barcode)
    offer = barcodes.offer_of(call.session, barcode)
    account = (coupons.find_account_coupon(call.session, member.id, offer.id)
               if offer.type == barcodes.COUPON_BOOK else None)
    return ok(s.BarcodeScanOut(
        barcode=barcode_out(call.session, barcode),
        member=s.ScannedMemberOut(id=member.id, loyalty_member_id=member.loyalty_member_id,
                                  account_status=member.account_status),
        offer=s.ScannedOfferOut(offer_type=offer.type, id=offer.id, name=offer.name),
        account_coupon_id=account.public_id if account else None).dump())


@images_bp.get("/barcodes/<number>.svg")
def svg(number: str):
    return _image(number, "svg")


@images_bp.get("/barcodes/<number>.png")
def png(number: str):
    return _image(number, "png")


def _image(number: str, kind: str) -> Response:
    if not NUMBER.match(number):
        abort(404)
    try:
        symbology = barcodes.symbology_for(number, request.args.get("symbology"))
    except DomainError:
        abort(404)
    render = barcodes.render_svg if kind == "svg" else barcodes.render_png
    response = Response(render(number, symbology), mimetype="image/svg+xml" if kind == "svg" else "image/png")
    # The same number always gives the same picture.
    response.headers["Cache-Control"] = "public, max-age=86400, immutable"
    return response


def _request(item: s.BarcodeIn) -> BarcodeRequest:
    return BarcodeRequest(offer_id=item.offer_id, customer_id=item.customer_id, channel=item.channel,
                          tracking_code=item.tracking_code, offer_type=item.offer_type)


def barcode_out(session, barcode: Barcode) -> s.BarcodeOut:
    return s.BarcodeOut(
        barcode_number=barcode.barcode_number, offer_id=barcode.offer_id, offer_type=barcode.offer_type,
        customer_id=barcode.member_id, channel=barcode.channel, tracking_code=barcode.tracking_code,
        image_url=absolute_url("barcode_images.svg", number=barcode.barcode_number),
        png_url=absolute_url("barcode_images.png", number=barcode.barcode_number),
        active=barcodes.is_active(session, barcode), expiry_date=barcode.expiry_date, created_at=barcode.created_at)
