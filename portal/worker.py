"""The background worker: `flask --app app worker` runs the periodic jobs in a loop.

Each job runs in its own transaction, so one failing job does not stop the others,
and several workers may run against one PostgreSQL database. Bulk jobs (imports,
grants; domain/bulk/) then run batch by batch, each batch its own transaction,
for up to BULK_SECONDS a round; a batch that raises marks its job failed.
Mail (portal/mail.py) is sent after the outbox job turned the mail events into deliveries,
each attempt outside any transaction, with retries and backoff; the worker looks for waiting
mail every 2 s, so a reset link does not wait a whole round. Records of sent mail are deleted
MAIL_RECORDS_DAYS after sending (a batch a round).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import time

from flask import current_app

from . import mail, webhook_sender
from .domain.bulk import jobs as bulk_jobs, member_import, points_grant  # noqa: F401  (registers the kinds)
from .domain import jobs, mail_deliveries
from .domain.jobs import JOBS
from .extensions import db

log = logging.getLogger("portal.worker")
BULK_SECONDS = 20.0


def run_once() -> dict[str, int]:
    done = {}
    for name, job in JOBS:
        try:
            with db.transaction() as session:
                done[name] = job(session)
        except Exception:  # keep the worker alive; the next round retries
            log.exception("job %s failed", name)
            done[name] = -1
        finally:
            db.session.remove()
    try:  # after the outbox job, which queues the deliveries; it runs its own short transactions
        done["webhooks"] = webhook_sender.deliver_due(db, webhook_sender.Settings.from_config(current_app.config))
    except Exception:
        log.exception("webhook delivery failed")
        done["webhooks"] = -1
    finally:
        db.session.remove()
    try:
        done["mail"] = deliver_mail()
    finally:
        db.session.remove()
    done["mail_records"] = prune_mail_records()
    done["bulk"] = run_bulk_jobs()
    return done


def deliver_mail(now=None) -> int:
    """Send the due mail (after the outbox job queued it); returns the attempts made, -1 on an error."""
    try:
        return mail.deliver_due(db, mail.Settings.from_config(current_app.config), now=now)
    except Exception:
        log.exception("mail delivery failed")
        return -1


def prune_mail_records(now=None) -> int:
    """Delete the records of mail sent more than MAIL_RECORDS_DAYS ago (a batch a round); returns how many,
    -1 on an error."""
    days = dt.timedelta(days=current_app.config["MAIL_RECORDS_DAYS"])
    try:
        with db.transaction() as session:
            return mail_deliveries.prune_sent(session, older_than=days, now=now)
    except Exception:
        log.exception("pruning mail records failed")
        return -1
    finally:
        db.session.remove()


def send_mail_now(now=None) -> int:
    """Drain the outbox and send the due mail: what a worker round does for mail, on its own
    (how tests deliver mail). Returns the attempts made."""
    with db.transaction() as session:
        jobs.drain_outbox(session)
    return deliver_mail(now)


def run_bulk_jobs(seconds: float = BULK_SECONDS, batch_size: int = bulk_jobs.BATCH_SIZE) -> int:
    """Run bulk-job batches until none waits or `seconds` have passed; returns the batches run."""
    until, batches = time.monotonic() + seconds, 0
    while time.monotonic() < until:
        job_id = None
        try:
            with db.transaction() as session:
                job = bulk_jobs.claim(session)
                if job is None:
                    break
                job_id = job.id
                bulk_jobs.run_batch(session, job, batch_size)
            batches += 1
        except Exception as error:  # the batch rolled back; stop the job rather than retry it forever
            log.exception("bulk job %s failed", job_id)
            if job_id is None:
                break
            db.session.remove()
            with db.transaction() as session:
                bulk_jobs.fail(session, job_id, f"{type(error).__name__}: {error}")
        finally:
            db.session.remove()
    return batches


def run_forever(interval: float = 30.0) -> None:
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker started, every %.0f s", interval)
    parent = os.getppid()
    # Started beside the web server by `make run`: stop when that shell is gone, not linger as an orphan.
    while not stopping and os.getppid() == parent:
        counts = run_once()
        if any(counts.values()):
            log.info("worker round: %s", counts)
        slept = 0.0
        # A confirmed import, a new grant or a mail should not wait a whole round: look for one every 2 s.
        while slept < interval and not stopping and os.getppid() == parent and not _work_waiting(slept):
            time.sleep(0.5)
            slept += 0.5


def _work_waiting(slept: float) -> bool:
    """Whether a bulk job or a mail waits, looked at every 2 s of the pause, never right after a round:
    a job another worker holds (or a mail it claimed just now) would otherwise start round after round
    without a pause."""
    if slept == 0 or slept % 2:
        return False
    try:
        session = db.session()
        return bulk_jobs.waiting(session) or mail_deliveries.waiting(session)
    finally:
        db.session.remove()
