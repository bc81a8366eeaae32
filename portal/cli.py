"""Command-line tools: `flask --app app orgs create`, `staff create`, `staff set-password`, `demo load`."""
from __future__ import annotations

import json

import click
from flask import Flask

from .domain import organizations, staff
from .domain.actors import system_actor
from .domain.errors import DomainError
from .extensions import db


def init_app(app: Flask) -> None:
    app.cli.add_command(orgs)
    app.cli.add_command(staff_group)
    app.cli.add_command(demo)
    app.cli.add_command(worker)
    app.cli.add_command(mail_queue)


@click.group(help="Organisations.")
def orgs():
    pass


@orgs.command("create", help="Create an organisation with its programme and an all-roles API key.")
@click.option("--name", required=True)
@click.option("--timezone", default="UTC", show_default=True,
              help="IANA timezone whose days, weeks and months the reports count, e.g. Europe/Berlin")
def create_org(name: str, timezone: str):
    try:
        with db.transaction() as session:
            org, program = organizations.create_organization(session, name, timezone=timezone)
            actor = system_actor(org.id, "cli")
            _, secret = staff.create_api_key(session, org.id, name="bootstrap", roles=["admin"], actor=actor)
    except DomainError as error:
        raise click.ClickException(f"{error.field or 'error'}: {error.message}") from None
    click.echo(json.dumps({"organizationId": org.id, "loyaltyProgramId": program.id, "apiKey": secret}))


@click.group("staff", help="Staff users.")
def staff_group():
    pass


@staff_group.command("create", help="Create a staff user; the password is asked for unless given.")
@click.option("--org", "organization_id", required=True, type=int)
@click.option("--email", required=True)
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles, e.g. admin")
@click.option("--name", default="")
@click.password_option()
def create_staff(organization_id: int, email: str, roles: tuple[str, ...], name: str, password: str):
    try:
        with db.transaction() as session:
            organizations.get_organization(session, organization_id)
            user = staff.create_staff_user(session, organization_id, email=email, password=password,
                                           roles=list(roles), actor=system_actor(organization_id, "cli"), name=name)
    except DomainError as error:
        raise click.ClickException(f"{error.field or 'error'}: {error.message}") from None
    click.echo(json.dumps({"id": user.id, "email": user.email, "roles": user.roles}))


@staff_group.command("set-password", help="Give a staff user a new password; their open sessions end.")
@click.option("--email", required=True)
@click.option("--org", "organization_id", type=int, help="Needed when staff of several organisations have this email.")
@click.password_option()
def set_staff_password(email: str, organization_id: int | None, password: str):
    try:
        with db.transaction() as session:
            user = staff.find_staff_user(session, email, organization_id)
            staff.set_staff_password(session, user, password,
                                     actor=system_actor(user.organization_id, "cli"))
    except DomainError as error:
        raise click.ClickException(f"{error.field or 'error'}: {error.message}") from None
    click.echo(json.dumps({"id": user.id, "email": user.email}))


@click.group(help="Demo data.")
def demo():
    pass


@demo.command("load", help="Load the demo organisation once; prints the demo staff login.")
def load_demo():
    from .demo import load

    with db.transaction() as session:
        info = load(session)
    click.echo(info)


@click.command(help="Run the background jobs: points expiry, tier expiry, birthdays, the event outbox, "
                    "webhook deliveries, mail.")
@click.option("--once", is_flag=True, help="One round, then exit.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between rounds.")
def worker(once: bool, interval: float):
    import logging

    from .worker import run_forever, run_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    if once:
        click.echo(json.dumps(run_once()))
    else:
        run_forever(interval)


@click.command("mail-queue", help="Mail waiting, sent and failed; the failed ones with their last error.")
def mail_queue():
    from .domain import mail_deliveries

    session = db.session()
    click.echo(json.dumps(mail_deliveries.counts(session)))
    for delivery in mail_deliveries.failed(session):
        click.echo(f"failed #{delivery.id} {delivery.created_at:%Y-%m-%d %H:%M} {delivery.template} to "
                   f"{delivery.recipient} after {delivery.attempt_count} attempts: {delivery.last_error}")
