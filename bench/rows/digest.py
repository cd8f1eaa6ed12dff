"""Digest: 200 establishments, 1 000 recipients, rendered and handed to SMTP.

Goals: ≤ 60 s in all, peak memory ≤ 300 MB.

The database is the barometer row's (200 establishments and its volume of
reports: 10⁵ quick, 10⁶ full; the barometer row leaves it for this one, which
drops it), plus 1 000 digest contacts (5 per establishment, fr and nl; 300 in the quick
run, said in the label). Nothing
was sent before (a fresh database: no digest run), so the digest of the current
ISO week goes to every recipient: the 1 000 contacts (their establishment) and,
as R9 says, the coordinators and every member service's alert address (all
establishments).

Production shape: `flask --app barometre digest send` plans (one digest run and
notification row per address, handed to Celery after commit) and a
`celery -A alerts worker` (prefork, concurrency 2, already running, on a private
Redis database and queue) renders and sends each email to an aiosmtpd sink.
Timed from the start of the command to the arrival of the last message; peak
memory is the largest VmHWM of the command (printed by the command itself at
exit) and of the worker and its pool processes (read before it stops). Every
recipient must get exactly one message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import psycopg
from celery import Celery

from .. import datagen
from ..context import Context
from ..core import ROOT, Check, Goal, RowResult, fmt, log, step
from ..datagen import psycopg_url
from ..features import require_module
from ..mail import SmtpSink, smtp_sink
from ..worker import PRIVATE_REDIS_URL, alerts_env, alerts_worker, queue_name

KEY = "digest"
TITLE = "digest"
GOALS = "≤ 60 s, peak memory ≤ 300 MB"
SECONDS_GOAL = Goal("<=", 60, "s")
MEMORY_GOAL = Goal("<=", 300, "MB")
ESTABLISHMENTS = 200
RECIPIENTS = {"full": 1_000, "quick": 300}  # the quick run stays under 3 minutes
TIMEOUT = 300.0  # seconds for the last message, well past the goal


def run(ctx: Context) -> RowResult:
    require_module("alerts.digest", "the weekly digest (branch alerts)")
    volume = datagen.Volume(ESTABLISHMENTS, ctx.sizes.barometer_reports)
    url = ctx.databases.get(volume)
    try:
        return measure_on(ctx, url, volume)
    finally:
        ctx.databases.discard(volume)


def measure_on(ctx: Context, url: str, volume: datagen.Volume) -> RowResult:
    nothing_sent_yet(url)
    added = add_contacts(url, RECIPIENTS.get(ctx.sizes.name, 1_000))
    queue = queue_name(KEY)
    with smtp_sink() as sink:
        env = alerts_env(url, ctx.instance(KEY), queue, sink.port)
        with alerts_worker(env, queue) as worker:
            with step("worker ready"):
                wait_ready(queue, worker.check_alive)
            with step("flask digest send, until the last message arrived"):
                started = time.time()
                output, command_peak = run_command(env)
                command_seconds = time.time() - started
                log(f"command: {output} ({command_seconds:.1f} s)")
                expected = planned(url)
                wait_all(sink, len(expected), worker.check_alive)
            worker_peak = worker.peak_rss_mb()
    result = judge(sink, expected, started, command_peak, worker_peak)
    result.figures.update(
        {
            "command_seconds": round(command_seconds, 2),
            "contacts_added": added,
            "notification_states": states(url),
            "database": {"establishments": volume.establishments, "reports": volume.reports},
        }
    )
    return result


def nothing_sent_yet(url: str) -> None:
    with psycopg.connect(psycopg_url(url)) as conn:
        runs = conn.execute("SELECT count(*) FROM digest_run").fetchone()
        rows = conn.execute("SELECT count(*) FROM notification").fetchone()
    if (runs and runs[0]) or (rows and rows[0]):
        raise RuntimeError("the database already holds digest runs or notifications")


def wait_ready(queue: str, check: Any, timeout: float = 60) -> None:
    """Until the worker answers a ping: the digest starts with the worker up, as in production."""
    client = Celery("bench-ping", broker=PRIVATE_REDIS_URL, set_as_current=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            check()
            if client.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=0.5):
                return
        raise RuntimeError(f"celery worker not ready after {timeout} s")
    finally:
        client.close()


# Runs a module's command line and, at exit, prints the process's peak resident memory.
# VmHWM, not the rusage: a child's ru_maxrss counts the bench's own pages between fork and
# exec (the bench holds the generated data), VmHWM starts afresh at exec.
PEAK_WRAPPER = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('PEAK_KB', line.split()[1], flush=True)\n"
    "atexit.register(peak)\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
)


def run_command(env: dict[str, str]) -> tuple[str, float]:
    """`flask --app barometre digest send`: its output and its peak memory in MiB."""
    command = [sys.executable, "-c", PEAK_WRAPPER, "flask", "--app", "barometre", "digest", "send"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"digest send exited with {done.returncode}:\n{output[-2000:]}")
    peaks = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("PEAK_KB ")]
    if not peaks:
        raise RuntimeError(f"digest send did not report its peak memory:\n{output[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.strip() and "PEAK_KB" not in line]
    return (lines[-1] if lines else ""), int(peaks[-1]) / 1024


def planned(url: str) -> dict[str, str]:
    """The digest notifications: recipient address → recipient kind."""
    with psycopg.connect(psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT n.recipient, n.recipient_kind, r.iso_week FROM notification n"
            " JOIN digest_run r ON r.id = n.digest_run_id WHERE n.kind = 'digest'"
        ).fetchall()
    weeks = {r[2] for r in rows}
    log(f"{len(rows)} digests planned for {', '.join(sorted(weeks))}")
    return {str(r[0]).lower(): str(r[1]) for r in rows}


def wait_all(sink: SmtpSink, expected: int, check: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.arrivals) < expected and time.monotonic() < deadline:
        check()
        time.sleep(0.1)
    time.sleep(1.0)  # late duplicates would arrive now


def states(url: str) -> dict[str, int]:
    with psycopg.connect(psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM notification WHERE kind = 'digest' GROUP BY state"
        ).fetchall()
    return {str(s): int(n) for s, n in rows}


def judge(
    sink: SmtpSink,
    expected: dict[str, str],
    started: float,
    command_peak: float,
    worker_peak: float,
) -> RowResult:
    received = Counter(r.lower() for a in sink.arrivals for r in a.recipients)
    lost = sorted(set(expected) - set(received))
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    unexpected = sorted(set(received) - set(expected))
    if unexpected:
        raise RuntimeError(f"{len(unexpected)} unexpected recipients, e.g. {unexpected[0]}")
    kinds = Counter(expected.values())
    last = max((a.at for a in sink.arrivals), default=started)
    seconds = last - started
    to_contacts = [
        a.at for a in sink.arrivals if expected.get(a.recipients[0].lower()) == "contact"
    ]
    contacts_last = max(to_contacts, default=started)
    peak = max(command_peak, worker_peak)
    who = ", ".join(f"{n} {kind}s" for kind, n in sorted(kinds.items()))
    return RowResult(
        KEY,
        TITLE,
        checks=[
            Check(
                f"digest send → last of {len(expected)} messages ({who})"
                + (" (quick)" if len(expected) < 1_000 else ""),
                seconds,
                SECONDS_GOAL,
                app=f"{fmt(seconds)} s",
                unit="s",
            ),
            Check(
                "peak memory (command, worker processes)",
                peak,
                MEMORY_GOAL,
                app=f"{fmt(command_peak)} MB, {fmt(worker_peak)} MB",
                unit="MB",
            ),
            Check("recipients without their message", len(lost), Goal("<=", 0), app=str(len(lost))),
            Check("extra messages (duplicates)", duplicates, Goal("<=", 0), app=str(duplicates)),
        ],
        figures={
            "seconds_to_last_message": round(seconds, 2),
            "seconds_to_last_contact_message": round(contacts_last - started, 2),
            "messages_expected": len(expected),
            "messages_received": sum(received.values()),
            "recipients_by_kind": dict(kinds),
            "lost": len(lost),
            "duplicates": duplicates,
            "command_peak_rss_mb": round(command_peak, 1),
            "worker_peak_rss_mb": round(worker_peak, 1),
        },
    )


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
