"""Absolute links for mails, PDFs, share links and API payloads.

They are built from the configured public address (PORTAL_BASE_URL), never
from the request's Host header: a link mailed after a request for
`Host: evil.example` must still point at this portal. Works outside a request
too (CLI, worker).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def absolute_url(endpoint: str, **values) -> str:
    """The public URL of `endpoint`, e.g. absolute_url("member.password_reset", token=t)."""
    base = urlsplit(current_app.config["PORTAL_BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path.rstrip("/") or "/",
                                       url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def init_app(app) -> None:
    app.jinja_env.globals["absolute_url"] = absolute_url
