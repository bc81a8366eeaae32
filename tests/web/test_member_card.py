"""Membership card: the card code as Code128 and QR (inline SVG) and as a PDF
that holds the code as text and the barcode as an image."""
from __future__ import annotations

import re
import subprocess

import segno

from portal.domain import cards, members

from tests import factories

from .member_helpers import logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401


def bars_to_modules(svg: str) -> str:
    """Read the bar pattern back out of the SVG path ('M<x> 0h<width>...')."""
    width = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    modules = ["0"] * width
    for x, run in re.findall(r"M(\d+) 0h(\d+)", svg):
        for i in range(int(x), int(x) + int(run)):
            modules[i] = "1"
    return "".join(modules).strip("0")


def test_card_shows_name_tier_code_barcode_and_qr(portal, logged_in, session, org):
    factories.make_tiers(session, org)
    factories.give_points(session, org, logged_in, 10)
    from portal.domain import tiers

    tiers.evaluate(session, logged_in.id, org.program)
    session.commit()
    code = members.card_code_of(session, logged_in.id)
    doc = portal.page("/card")
    assert doc.text("[data-testid=card-code]") == code
    assert doc.text(".member-card__name") == "Mara Moos"
    assert doc.text(".member-card__tier") == "Bronze"
    html = portal.get("/card").get_data(as_text=True)
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    barcode_svg = re.search(r'<svg[^>]*class="barcode".*?</svg>', html, re.S).group(0)
    assert f'aria-label="Barcode of card number {code}"' in barcode_svg and 'role="img"' in barcode_svg
    assert bars_to_modules(barcode_svg) == cards.code128_modules(code).strip("0")
    qr_svg = re.search(r'<svg[^>]*class="qrcode".*?</svg>', html, re.S).group(0)
    assert f'aria-label="QR code of card number {code}"' in qr_svg
    assert 'viewBox="0 0 ' in qr_svg and "width=" not in qr_svg.split(">")[0]
    assert doc.one('a[href="/card.pdf"]').get("download") is not None


def test_qr_svg_encodes_the_card_code():
    svg = cards.qr_svg("ABCDE23456", label="x")
    expected = segno.make("ABCDE23456", error="m", micro=False)
    assert svg.endswith("</svg>") and expected.svg_inline(scale=1, omitsize=True, border=4) .split("d=\"")[-1] \
        .split("\"")[0] in svg


def test_card_pdf_holds_the_code_as_text_and_images(portal, logged_in, session, tmp_path):
    code = members.card_code_of(session, logged_in.id)
    response = portal.get("/card.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="card-{code}.pdf"'
    assert response.data.startswith(b"%PDF-") and response.data.rstrip().endswith(b"%%EOF")
    path = tmp_path / "card.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    assert code in text and "Mara Moos" in text
    listing = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True,
                             text=True).stdout.splitlines()[2:]
    images = [line.split() for line in listing if line.strip()]
    assert len(images) == 2  # the Code128 barcode and the QR code
    widths = sorted(int(row[3]) for row in images)
    # Three whole pixels per module, quiet zones included: bars keep their exact ratios in print.
    assert abs(widths[-1] - 3 * (len(cards.code128_modules(code)) + 2 * cards.QUIET_ZONE_MODULES)) <= 2


def test_card_pages_need_a_member(portal):
    assert portal.get("/card").status_code == 302
    assert portal.get("/card.pdf").status_code == 302


def test_each_member_sees_only_their_own_card(portal, logged_in, make_member, session):
    neighbour = make_member()
    neighbour_code = members.card_code_of(session, neighbour.id)
    own_code = members.card_code_of(session, logged_in.id)
    assert neighbour_code not in portal.get("/card").get_data(as_text=True)
    assert own_code in portal.get("/card").get_data(as_text=True)
