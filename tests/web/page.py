"""Reading HTML responses in web tests: CSS selectors over a parsed page.

tinyhtml5 and cssselect2 come with weasyprint, so no extra dependency.
"""
from __future__ import annotations

import re

import cssselect2
import tinyhtml5

# A form's CSRF token (a prefixed form's too: `coupon-csrf_token`), as a browser would send it back.
CSRF_TOKEN = re.compile(r'name="(?:[a-z]+-)?csrf_token"[^>]*value="([^"]+)"')


class Page:
    def __init__(self, html: str):
        self.html = html
        self.root = cssselect2.ElementWrapper.from_html_root(tinyhtml5.parse(html))

    def all(self, css: str) -> list:
        return [w.etree_element for w in self.root.query_all(css)]

    def one(self, css: str):
        found = self.all(css)
        assert found, f"nothing matches {css!r}"
        return found[0]

    def has(self, css: str) -> bool:
        return bool(self.all(css))

    def text(self, css: str) -> str:
        return text_of(self.one(css))

    def texts(self, css: str) -> list[str]:
        return [text_of(e) for e in self.all(css)]


def text_of(element) -> str:
    # Pieces are joined with spaces so that table cells do not run together.
    return re.sub(r"\s+", " ", " ".join(element.itertext())).strip()


def page(response) -> Page:
    return Page(response.get_data(as_text=True))


def field_error(response, field: str) -> str:
    """The error text shown under one form field (the field macro's #<id>-error), or ""."""
    found = page(response).all(f"#{field}-error")
    return found[0].text if found else ""
