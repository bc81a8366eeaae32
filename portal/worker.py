"""The background worker: `flask --app app worker` runs the periodic jobs in a loop.

Each job runs in its own transaction, so one failing job does not stop the others,
and several workers may run against one PostgreSQL database.
"""
from __future__ import annotations

import logging
import os
import signal
import time

from flask import current_app

from . import webhook_sender
from .domain.jobs import JOBS
from .extensions import db

log = logging.getLogger("portal.worker")


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
    return done


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
        while slept < interval and not stopping and os.getppid() == parent:
            time.sleep(0.5)
            slept += 0.5
