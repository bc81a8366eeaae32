"""`flask --app app oauth ...`: the provider's signing key, and partner apps from the command line."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..domain import partners
from ..domain.actors import system_actor
from ..domain.errors import DomainError
from ..domain.organizations import Organization
from ..extensions import db


@click.group("oauth", cls=AppGroup, help="The OAuth 2 / OpenID Connect provider.")
def oauth_group():
    pass


@oauth_group.command("rotate-key", help="Sign id_tokens with a new key; the old key stays in the JWKS for a while.")
def rotate_key():
    keys = current_app.extensions["portal_oauth_keys"]
    kid = keys.rotate()
    click.echo(f"New signing key {kid}; {len(keys.public_jwks()['keys'])} key(s) published at /oauth/jwks.json")


@oauth_group.command("register-app", help="Create a partner app, or refresh the one with this name (new secret), "
                                          "and print its client id and secret as JSON.")
@click.option("--org", "organization_id", type=int, default=None, help="Default: PORTAL_ORGANIZATION_ID, else the first")
@click.option("--name", required=True)
@click.option("--redirect-url", required=True, help="Matched exactly, e.g. http://127.0.0.1:8001/callback")
@click.option("--scope", default=" ".join(partners.SCOPES), show_default=True, help="Space-separated scopes")
@click.option("--public", is_flag=True, help="A public client (no secret, PKCE only)")
def register_app(organization_id: int | None, name: str, redirect_url: str, scope: str, public: bool):
    try:
        with db.transaction() as session:
            organization_id = organization_id or int(current_app.config.get("PORTAL_ORGANIZATION_ID") or 0) or \
                session.scalar(select(Organization.id).order_by(Organization.id).limit(1))
            if organization_id is None:
                raise click.ClickException("No organisation yet: create one with `flask --app app orgs create`")
            actor = system_actor(organization_id, "cli")
            fields = {"auth_redirect_url": redirect_url, "auth_valid_scopes": partners.scope_list(scope)}
            app = session.scalars(partners.apps_query(organization_id).where(partners.PartnerApp.name == name)).first()
            if app is None:
                app, secret = partners.create_app(session, organization_id, actor=actor, name=name,
                                                  client_type=partners.PUBLIC if public else partners.CONFIDENTIAL,
                                                  **fields)
            else:
                partners.update_app(session, app, actor=actor, active=True, **fields)
                secret = partners.rotate_secret(session, app, actor=actor) if app.confidential else None
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps({"organizationId": organization_id, "portalId": app.id, "clientId": app.client_id,
                           "clientSecret": secret}))
