"""Bulk jobs: member imports and points grants, as the jobs page shows them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from .common import Out, PageOut


class JobOut(Out):
    id: int
    kind: str = Field(description="member-import or points-grant")
    status: str = Field(description="checked (an import waiting for staff to confirm it), queued, running, done, "
                                    "or failed")
    started_by: str = Field(description="Who started it (a staff user, an API key), as the audit log names them")
    total: int = Field(description="Rows to do: an import's file lines, a grant's candidate members")
    done: int = Field(description="Rows finished so far, of total")
    created: int = Field(description="Finished rows that made something: a member imported, points granted")
    skipped: int = Field(description="Finished rows that were there already: nothing to do")
    refused: int = Field(description="Rows refused: a line that failed its check, a locked member")
    params: dict[str, Any] = Field(description="What it was started with (an import's file name and columns, a "
                                               "grant's audience, amount and reason)")
    report: dict[str, Any] = Field(description="What came of it, by kind (an import's ignoredColumns; a grant's "
                                               "membersGranted, pointsGranted, alreadyGranted, refused)")
    error: str = Field(description="Why it failed; empty otherwise")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobPage(PageOut):
    results: list[JobOut]


class JobEnvelope(Out):
    job: JobOut
