"""Scannable pictures of a code (a card code or a coupon code) and PDFs.

- Code128 bars are computed by python-barcode and drawn as our own SVG with a
  viewBox (no XML prolog, no fixed size), so the page can scale it crisply.
- QR codes come from segno as inline SVG with a viewBox.
- PDFs embed both as PNG images (exact whole pixels per module, so the bars
  keep their ratios when printed) and are rendered from HTML by weasyprint.
The functions take plain strings and return strings or bytes; no Flask here.
"""
from __future__ import annotations

import base64
import io
from html import escape

import barcode
import segno
from barcode.writer import ImageWriter

QUIET_ZONE_MODULES = 10  # Code128 needs ten modules of white on each side


def code128_modules(value: str) -> str:
    """The bar pattern as '1' (bar) and '0' (space) modules."""
    return barcode.get("code128", value).build()[0]


def code128_svg(value: str, *, label: str, height: int = 60) -> str:
    """An inline <svg> of the Code128 bars; `label` is read out by screen readers."""
    modules = code128_modules(value)
    width = len(modules) + 2 * QUIET_ZONE_MODULES
    bars, position = [], 0
    while position < len(modules):
        if modules[position] == "1":
            run = len(modules[position:]) - len(modules[position:].lstrip("1"))
            bars.append(f"M{position + QUIET_ZONE_MODULES} 0h{run}v{height}h-{run}z")
            position += run
        else:
            position += 1
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(label)}" preserveAspectRatio="none" class="barcode" shape-rendering="crispEdges">'
            f'<rect width="{width}" height="{height}" fill="#fff"/><path fill="#000" d="{"".join(bars)}"/></svg>')


def qr_svg(value: str, *, label: str) -> str:
    """An inline <svg> QR code (error correction M) that scales with its box."""
    qr = segno.make(value, error="m", micro=False)
    svg = qr.svg_inline(scale=1, omitsize=True, border=4, dark="#000", light="#fff",
                        svgclass="qrcode", title=None)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)


def code128_png(value: str, *, pixels_per_module: int = 3, dpi: int = 300) -> bytes:
    """PNG of the bars with a whole number of pixels per module (0.254 mm at 300 dpi)."""
    writer = ImageWriter()
    out = io.BytesIO()
    barcode.get("code128", value, writer=writer).write(out, options={
        "module_width": pixels_per_module * 25.4 / dpi, "module_height": 15.0, "dpi": dpi,
        "quiet_zone": QUIET_ZONE_MODULES * pixels_per_module * 25.4 / dpi, "write_text": False})
    return out.getvalue()


def qr_png(value: str, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make(value, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def render_pdf(html: str) -> bytes:
    """A PDF from self-contained HTML (inline CSS, data: images)."""
    from weasyprint import HTML  # imported late: pango is loaded only when a PDF is made

    return HTML(string=html).write_pdf()


def printable_codes(value: str) -> dict[str, str]:
    """The Code128 bars and the QR code of `value` as data: URIs, for a PDF template (card or coupon).

    The same images the card PDF embeds: whole pixels per module, so a printed
    coupon scans as well as a printed card.
    """
    return {"barcode_png": data_uri(code128_png(value)), "qr_png": data_uri(qr_png(value))}
