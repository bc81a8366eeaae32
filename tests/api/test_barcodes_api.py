"""Barcode routes (Coniq): create, batch of at most 200 all or nothing, list, scan, images."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from PIL import Image
from sqlalchemy import func, select

from portal.domain import barcodes
from portal.domain.barcodes import Barcode
from tests.conftest import Api
from tests.factories import make_member


def rows(session):
    session.flush()
    return session.scalar(select(func.count()).select_from(Barcode))


def setup_offer(api, session, org, **book):
    members = [make_member(session, org) for _ in range(2)]
    session.commit()
    r = api.post("/coupon-books", json={"name": "Spring", "type": "DISCOUNT", "discountType": "fixed",
                                        "discountAmount": 5, "publishingStatus": "published",
                                        "validToDate": "2099-05-31T12:00:00Z", **book})
    return members, r.json["couponBook"]


def test_create_barcode_and_scan_it(api, session, org):
    (member, _), book = setup_offer(api, session, org)
    r = api.post("/barcodes", json={"offerId": book["id"], "customerId": member.id, "channel": "MAIL",
                                    "trackingCode": "spring-mailing"})
    assert r.status_code == 201, r.json
    barcode = r.json["barcode"]
    number = barcode["barcodeNumber"]
    assert barcodes.is_ean13(number) and number.startswith("2")
    assert (barcode["offerId"], barcode["offerType"], barcode["customerId"], barcode["channel"]) == \
        (book["id"], "COUPON_BOOK", member.id, "MAIL")
    assert barcode["trackingCode"] == "spring-mailing" and barcode["active"] is True
    assert barcode["expiryDate"] == "2099-05-31" and barcode["createdAt"].endswith("Z")
    assert barcode["imageUrl"] == f"http://localhost/barcodes/{number}.svg"
    assert barcode["pngUrl"] == f"http://localhost/barcodes/{number}.png"

    # The till scans the number: who and what.
    r = api.get(f"/barcodes/{number}")
    assert r.status_code == 200
    assert r.json["member"]["id"] == member.id and r.json["offer"] == {"offerType": "COUPON_BOOK",
                                                                      "id": book["id"], "name": "Spring"}
    assert r.json["accountCouponId"] is None
    api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": member.id})
    scanned = api.get(f"/barcodes/{number}").json
    assert scanned["accountCouponId"]
    r = api.post(f"/account-coupons/{scanned['accountCouponId']}/redeem", json={"systemUniqueKey": "scan-1"})
    assert r.status_code == 201


def test_barcode_for_the_loyalty_programme(api, session, org):
    member = make_member(session, org)
    session.commit()
    r = api.post("/barcodes", json={"offerId": org.program.id, "offerType": "LOYALTY_PROGRAM",
                                    "customerId": member.id, "channel": "MOBILE"})
    assert r.status_code == 201 and r.json["barcode"]["expiryDate"] is None
    assert api.get(f"/barcodes/{r.json['barcode']['barcodeNumber']}").json["offer"]["offerType"] == "LOYALTY_PROGRAM"


def test_batch_of_201_is_refused_and_writes_nothing(api, session, org):
    (a, b), book = setup_offer(api, session, org)
    items = [{"offerId": book["id"], "customerId": (a, b)[i % 2].id, "channel": "PAPER"} for i in range(201)]
    r = api.post("/barcodes/batch", json={"barcodes": items})
    assert r.status_code == 422 and "barcodes" in r.json["errors"]
    assert rows(session) == 0
    r = api.post("/barcodes/batch", json={"barcodes": items[:200]})
    assert r.status_code == 201, r.json
    numbers = [item["barcodeNumber"] for item in r.json["barcodes"]]
    assert len(numbers) == 200 and len(set(numbers)) == 200 and all(barcodes.is_ean13(n) for n in numbers)
    assert rows(session) == 200


def test_batch_with_one_bad_item_writes_nothing(api, session, org, other_org):
    (a, _), book = setup_offer(api, session, org)
    stranger = make_member(session, other_org)
    session.commit()
    items = [{"offerId": book["id"], "customerId": a.id, "channel": "SMS"}] * 5
    items.insert(3, {"offerId": book["id"], "customerId": stranger.id, "channel": "SMS"})
    r = api.post("/barcodes/batch", json={"barcodes": items})
    assert r.status_code == 422 and list(r.json["errors"]) == ["barcodes[3].customerId"]
    r = api.post("/barcodes/batch", json={"barcodes": [{"offerId": book["id"], "customerId": a.id,
                                                        "channel": "CARRIER-PIGEON"}]})
    assert r.status_code == 422 and "barcodes[0].channel" in r.json["errors"]
    assert rows(session) == 0


def test_list_by_customer_offer_and_tracking_code(api, session, org):
    (a, b), book = setup_offer(api, session, org)
    api.post("/barcodes", json={"offerId": book["id"], "customerId": a.id, "channel": "MAIL", "trackingCode": "t1"})
    api.post("/barcodes", json={"offerId": book["id"], "customerId": b.id, "channel": "MAIL", "trackingCode": "t2"})
    api.post("/barcodes", json={"offerId": org.program.id, "offerType": "LOYALTY_PROGRAM", "customerId": a.id,
                                "channel": "SMS"})
    assert api.get(f"/barcodes?customerId={a.id}").json["totalCount"] == 2
    assert api.get(f"/barcodes?offerId={book['id']}&offerType=COUPON_BOOK").json["totalCount"] == 2
    found = api.get("/barcodes?trackingCode=t2").json
    assert found["totalCount"] == 1 and found["results"][0]["customerId"] == b.id


def test_other_organisations_barcodes_are_404(api, session, org, other_org):
    (a, _), book = setup_offer(api, session, org)
    number = api.post("/barcodes", json={"offerId": book["id"], "customerId": a.id,
                                         "channel": "PAPER"}).json["barcode"]["barcodeNumber"]
    theirs = Api(api.client, other_org)
    assert theirs.get(f"/barcodes/{number}").status_code == 404
    assert theirs.get("/barcodes").json["totalCount"] == 0
    # Their token on our organisation's path is refused too.
    assert api.as_(other_org.api_key).get(f"/barcodes/{number}").status_code == 404
    assert api.get("/barcodes/2000000000000").status_code == 404


def test_images_need_no_token_and_are_valid(api, session, org):
    (a, _), book = setup_offer(api, session, org)
    number = api.post("/barcodes", json={"offerId": book["id"], "customerId": a.id,
                                         "channel": "PAPER"}).json["barcode"]["barcodeNumber"]
    client = api.client
    r = client.get(f"/barcodes/{number}.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    root = ET.fromstring(r.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    r = client.get(f"/barcodes/{number}.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(r.data)) as image:
        assert image.format == "PNG" and image.size[0] > 100
    ean = client.get(f"/barcodes/{number}.svg?symbology=ean13")
    assert ean.status_code == 200 and ean.data != client.get(f"/barcodes/{number}.svg").data
    assert "immutable" in r.headers["Cache-Control"]
    # A pure renderer: an unknown number answers exactly like a known one, so it reveals nothing.
    assert client.get("/barcodes/2999999999990.svg").status_code == 200
    for bad in ("abc.svg", "12.png", "1234567890123456789012.svg", "%3Cscript%3E.svg"):
        assert client.get(f"/barcodes/{bad}").status_code == 404
    assert client.get("/barcodes/12345678.svg?symbology=ean13").status_code == 404
