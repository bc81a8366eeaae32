"""A page and its htmx fragment from one URL (STYLE rule 8), for both HTML faces.

The page includes the fragment; an htmx request that swaps part of the page gets
the fragment alone. A history restore wants the whole page. Both variants come
from one URL, so the response varies on HX-Request for caches.
"""
from __future__ import annotations

from flask import make_response, render_template

from .extensions import htmx


def wants_fragment() -> bool:
    """An htmx request that swaps part of the page (a history restore needs the whole page)."""
    return bool(htmx) and not htmx.history_restore_request


def render_page_or_fragment(page_template: str, fragment_template: str, status: int = 200, **context):
    """The page, or for htmx its fragment; templates see `fragment` (true for the fragment alone)."""
    fragment = wants_fragment()
    template = fragment_template if fragment else page_template
    response = make_response(render_template(template, fragment=fragment, **context), status)
    response.vary.add("HX-Request")
    return response
