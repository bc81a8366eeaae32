"""Outgoing mail over SMTP (MAIL_* settings), or into the log when MAIL_SERVER
is empty, so that a newcomer running `make run` can follow a reset link.

Messages are rendered in the request (templates `mail/<name>.txt` and
`mail/<name>.html`, in the recipient's language) and handed to one background
sender thread: the answer to a signup or a reset request then takes the same
time whether or not a mail goes out (no account enumeration by timing).
Call `send` only after the database transaction committed.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app, render_template
from flask_babel import force_locale

log = logging.getLogger("portal.mail")
_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-mail")


def init_app(app) -> None:
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s in %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def build(to: str, subject: str, template: str, *, locale: str = "en", **context) -> EmailMessage:
    """Render mail/<template>.txt and .html in `locale` into a message."""
    config = current_app.config
    with force_locale(locale):
        text = render_template(f"mail/{template}.txt", current_mail_locale=locale, **context)
        html = render_template(f"mail/{template}.html", current_mail_locale=locale, **context)
        subject = str(subject)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config["MAIL_DEFAULT_SENDER"].rpartition("@")[2].strip("> ") or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(to: str, subject: str, template: str, *, locale: str = "en", **context) -> Future:
    """Render now, deliver in the background; failures are logged, never raised."""
    message = build(to, subject, template, locale=locale, **context)
    settings = {key: current_app.config[key] for key in
                ("MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_USE_TLS")}
    if not settings["MAIL_SERVER"]:
        _log_message(message)
        done: Future = Future()
        done.set_result(None)
        return done
    return _sender.submit(_deliver, message, settings)


def drain(timeout: float = 10) -> None:
    """Wait until every mail handed over so far was delivered (or failed); for tests and shutdown."""
    _sender.submit(lambda: None).result(timeout)


def _deliver(message: EmailMessage, settings: dict) -> None:
    try:
        with smtplib.SMTP(settings["MAIL_SERVER"], settings["MAIL_PORT"], timeout=30) as smtp:
            if settings["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if settings["MAIL_USERNAME"]:
                smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"])
            smtp.send_message(message)
    except Exception:
        log.exception("could not send mail %r", message["Subject"])


def _log_message(message: EmailMessage) -> None:
    body = message.get_body(("plain",))
    log.info("MAIL_SERVER is not set; mail not sent, shown here instead:\nTo: %s\nSubject: %s\n\n%s",
             message["To"], message["Subject"], body.get_content() if body else "")
