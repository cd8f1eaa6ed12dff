"""Digest: 200 establishments, 1 000 recipients, rendered and handed to SMTP.

Goals: ≤ 60 s in all, peak memory ≤ 300 MB.

Needs the weekly digest (branch `alerts`). Until it is merged the row is "not
measured".

How to wire it after merging (`measure_app`):
1. `ctx.databases.get(Volume(200, ctx.sizes.barometer_reports))`, then
   `add_contacts(url, 1_000)` (below, working now: 5 digest contacts per
   establishment, fr and nl).
2. Inside `mail.smtp_sink()`, run the digest command of the alerts package in a
   subprocess (`flask --app barometre <digest command> --now` with
   `servers.app_env(url, …, SMTP_HOST="127.0.0.1", SMTP_PORT=…)`), timed from
   start to exit; its peak memory is `peak_child_rss_mb()` after it exits.
3. Check that every recipient got exactly one message (`sink.arrivals`,
   `sink.duplicates()`).
"""

from __future__ import annotations

import resource

import psycopg

from ..context import Context
from ..core import Goal, NotMeasured, RowResult
from ..datagen import psycopg_url
from ..features import require_module

KEY = "digest"
TITLE = "digest"
GOALS = "≤ 60 s, peak memory ≤ 300 MB"
SECONDS_GOAL = Goal("<=", 60, "s")
MEMORY_GOAL = Goal("<=", 300, "MB")
RECIPIENTS = 1_000


def run(ctx: Context) -> RowResult:
    require_module("alerts.digest", "the weekly digest (branch alerts)")
    raise NotMeasured("not wired yet: the digest is merged: wire measure_app() (see docstring)")


def add_contacts(url: str, count: int) -> int:
    """`count` digest contacts spread over the establishments; returns how many were added."""
    with psycopg.connect(psycopg_url(url)) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM establishment ORDER BY id")]
        rows = [
            (ids[n % len(ids)], f"direction{n}@prison.bench", f"Contact {n}", ("fr", "nl")[n % 2])
            for n in range(count)
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO contact (establishment_id, email, name, language, alerts, digest,"
                " red_only) VALUES (%s, %s, %s, %s, true, true, false)",
                rows,
            )
    return len(rows)


def peak_child_rss_mb() -> float:
    """Peak resident memory of the largest child process waited for so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
