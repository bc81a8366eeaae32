"""`flask --app app oauth rotate-key`: a new id_token signing key; the old one stays published until its tokens expire."""
from __future__ import annotations

import click
from flask import current_app


@click.group("oauth", help="The OAuth 2 / OpenID Connect provider.")
def oauth_group():
    pass


@oauth_group.command("rotate-key", help="Sign id_tokens with a new key; the old key stays in the JWKS for a while.")
def rotate_key():
    keys = current_app.extensions["portal_oauth_keys"]
    kid = keys.rotate()
    click.echo(f"New signing key {kid}; {len(keys.public_jwks()['keys'])} key(s) published at /oauth/jwks.json")
