"""Partner login: the OAuth 2.1 / OpenID Connect provider (/oauth/*, /.well-known/*).

authlib's provider classes are bound to the partners domain in server.py; the
views in views.py are thin; the consent page wears the member portal's look.
"""
from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("oauth", __name__)


def init_app(app: Flask) -> None:
    from . import cli, server, views  # noqa: F401  (routes)
    from ..extensions import csrf

    server.init_app(app)
    for view in views.MACHINE_VIEWS:  # called by partner back ends with client credentials, not by forms
        csrf.exempt(view)
    app.register_blueprint(bp)
    app.cli.add_command(cli.oauth_group)
