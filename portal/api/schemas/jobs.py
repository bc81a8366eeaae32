"""Bulk jobs: member imports and points grants, as the jobs page shows them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from .common import Out, PageOut


class JobOut(Out):
    id: int
    kind: str
    status: str
    started_by: str
    total: int
    done: int
    created: int
    skipped: int
    refused: int
    params: dict[str, Any]
    report: dict[str, Any]
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobPage(PageOut):
    results: list[JobOut]


class JobEnvelope(Out):
    job: JobOut
