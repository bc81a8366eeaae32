"""Outgoing mail: rendered in the request, sent by the worker over SMTP (MAIL_* settings), or
into the log when MAIL_SERVER is empty, so that a newcomer running `make run` can follow a
reset link.

`queue` renders the message (templates `mail/<name>.txt` and `mail/<name>.html`, in the
recipient's language) and writes it to the outbox in the caller's transaction: it goes out only
if that transaction commits, and even if the web process dies right after (see
domain/mail_deliveries.py). The request never talks to the mail server, so a signup or a reset
request takes the same time whether or not a mail goes out (no account enumeration by timing).
The worker calls `deliver_due`, which retries with backoff and marks a mail failed in the end; what
went wrong is logged and kept without the recipient's address.
"""
from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from .domain import mail_deliveries, outbox
from .domain.base import utcnow
from .urls import absolute_url

log = logging.getLogger("portal.mail")


def init_app(app) -> None:
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s in %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def queue(session: Session, organization_id: int, to: str, subject: str, template: str, *, locale: str = "en",
          **context) -> None:
    """Render mail/<template> in `locale` now; it is sent after this transaction commits."""
    with force_locale(locale):
        text = render_template(f"mail/{template}.txt", current_mail_locale=locale, **context)
        html = render_template(f"mail/{template}.html", current_mail_locale=locale, **context)
        subject = str(subject)
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    outbox.emit_mail(session, organization_id, template=template, to=to, subject=subject, text=text, html=html,
                     message_id=make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None))


def queue_account_exists(session: Session, member, org_name: str) -> None:
    """The note to the owner of an email somebody tried to sign up with (portal and signup forms)."""
    queue(session, member.organization_id, member.email, _l("Someone tried to sign up with your email address"),
          "account_exists", locale=member.locale, member=member, org_name=org_name,
          login_link=absolute_url("member.login"), reset_link=absolute_url("member.password_forgot"))


# --- the worker's side ---------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    server: str
    port: int
    username: str
    password: str
    use_tls: bool
    sender: str
    timeout: float = 30

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(server=config["MAIL_SERVER"], port=int(config["MAIL_PORT"]), username=config["MAIL_USERNAME"],
                   password=config["MAIL_PASSWORD"], use_tls=bool(config["MAIL_USE_TLS"]),
                   sender=config["MAIL_DEFAULT_SENDER"])


def deliver_due(database, settings: Settings, *, now=None, limit: int = 200) -> int:
    """Send the due mail one by one, each claimed and recorded in its own short transaction, the SMTP
    conversation outside any transaction. Returns the attempts made. `now` is for tests."""
    attempts = 0
    while attempts < limit:
        with database.transaction() as session:
            claim = mail_deliveries.claim_next(session, now=now or utcnow())
        if claim is None:
            break
        attempts += 1
        error, permanent = _send(message_of(claim, settings), settings)
        if error:
            error = _without_address(error, claim.recipient)
            log.warning("mail %s to delivery %s, attempt %s: %s", claim.subject, claim.delivery_id, claim.number,
                        error)
        with database.transaction() as session:
            status = mail_deliveries.record_outcome(session, claim, error=error, permanent=permanent,
                                                    now=now or utcnow())
        if status == mail_deliveries.FAILED:
            log.error("mail delivery %s failed for good after %s attempts: %s", claim.delivery_id, claim.number,
                      error)
    return attempts


def message_of(claim: mail_deliveries.Claim, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = claim.subject
    message["From"] = settings.sender
    message["To"] = claim.recipient
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = claim.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(claim.text)
    message.add_alternative(claim.html, subtype="html")
    return message


def _send(message: EmailMessage, settings: Settings) -> tuple[str | None, bool]:
    """(None, False) when accepted, else (what went wrong, whether retrying is pointless)."""
    if not settings.server:
        _log_message(message)
        return None, False
    try:
        with smtplib.SMTP(settings.server, settings.port, timeout=settings.timeout) as smtp:
            if settings.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as refused:
        replies = list(refused.recipients.values())  # keyed by the address: only the server's replies are kept
        said = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in replies)
        return f"recipient refused: {said}", all(code >= 500 for code, _ in replies)
    except smtplib.SMTPDataError as refused:
        return f"message refused: {refused.smtp_code} {refused.smtp_error!r}", refused.smtp_code >= 500
    except (smtplib.SMTPException, OSError) as error:  # refused connection, 4xx, timeout, TLS: try again later
        return f"{type(error).__name__}: {error}", False
    return None, False


def _without_address(error: str, address: str) -> str:
    """What went wrong, as logged and kept on the delivery: without the recipient's address, which the
    refusal repeats (and servers echo), so that neither the log nor the error holds personal data."""
    return re.sub(re.escape(address), "<recipient>", error, flags=re.IGNORECASE) if address else error


def _log_message(message: EmailMessage) -> None:
    body = message.get_body(("plain",))
    log.info("MAIL_SERVER is not set; mail not sent, shown here instead:\nTo: %s\nSubject: %s\n\n%s",
             message["To"], message["Subject"], body.get_content() if body else "")
