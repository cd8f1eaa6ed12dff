"""Report → inbox: from the 201 answer of a report to the email in the SMTP server.

Goal: p95 ≤ 250 ms at 10 reports/s for 60 s (quick: 10 s), zero lost, zero duplicate.

The app runs in its production shape: gunicorn and the `celery -A alerts worker`s
of docker-compose.yml (`bench.worker`: two delivery processes of 4 threads and the
default queue's prefork worker) on a private Redis database and queue,
`ALERT_GROUP_WAIT=0` (a rise is announced at once), SMTP to an aiosmtpd sink
that records when each message arrives. The database is a fresh
generated one (200 establishments, 100 past reports) with one alert contact
per establishment, so that most establishments are green at the start.

Reports are POSTed open loop (`mail.paced`, a thread pool answers), each one a
rise: report n names the n // 5-th establishment that is green at the start
and a condition not open there, so its five reports go orange 1, 2, 3, 4 and
then red (the fifth names a second offer type). Every answer must be a 201 with
a higher level than before. Each rise is one alert event with one notification
row per recipient (R10: the establishment's contact, the coordinators and every
member service's alert address); these rows, read from the database afterwards,
are the expected messages. A message is matched to its report through the
Message-ID (derived from the notification id) → notification → alert event →
level change → the report that caused it. Latency of a message = its SMTP
arrival − the time the 201 answer of its report came back. A warm-up report
(not measured) first brings up the worker's processes.

The queue may drain for 5 s (quick) or 60 s (full) after the last report; a
message still pending or being sent then is late, not lost: its latency is
counted as "deadline − answer" and the percentiles are shown as lower bounds
(≥). Lost: a notification that failed, or is recorded as sent and never reached
the sink. Duplicates: more than one arrival of one notification's Message-ID.

The baseline (`measure_baseline`) is the floor: a bare Celery task sending one
email per report, paced the same, on the same machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

from barometre import clock
from barometre.levels import rank_of
from barometre.referentiel import CONDITIONS

from .. import datagen
from ..context import Context
from ..core import ROOT, Check, Goal, RowResult, fmt, log, percentile, step
from ..features import require_module
from ..load import Request, fetch
from ..mail import Arrival, SmtpSink, paced, smtp_sink
from ..servers import REDIS_URL, gunicorn
from ..worker import alerts_env, alerts_worker, queue_name
from .intake import make_tokens

KEY = "inbox"
TITLE = "report → inbox"
GOALS = "p95 ≤ 250 ms, zero lost, zero duplicate"
P95_GOAL = Goal("<=", 250, "ms")
LOST_GOAL = Goal("<=", 0)
DUPLICATE_GOAL = Goal("<=", 0)
RATE = 10.0  # reports per second
# Few past reports: most establishments are green at the start (150 of 200 with this seed;
# the full run needs 121).
VOLUME = datagen.Volume(establishments=200, reports=100)
RISES_PER_ESTABLISHMENT = 5  # orange 1, 2, 3, 4, then red
CLIENTS = 4  # workers (tokens) sending the reports, in turn
SENDERS = 8  # threads posting, so that a slow answer does not delay the next report
# After the last answer, how long the queue may take to drain (keeps `--quick` short).
DRAIN_SECONDS = {"quick": 5.0, "full": 60.0}
MESSAGE_ID = re.compile(r"<barometre\.(\d+)\.")


@dataclass
class InboxResult:
    sent: dict[str, float] = field(default_factory=dict)  # id → send time
    latencies: list[float] = field(default_factory=list)  # seconds
    lost: int = 0
    duplicates: int = 0
    late: int = 0  # not arrived yet at the deadline (latency censored: percentiles ≥)
    expected: int = 0
    received: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def recipients_per_report(self) -> float:
        return round(self.expected / len(self.sent), 1) if self.sent else 0.0

    def p95_ms(self) -> float:
        return percentile(self.latencies, 95) * 1000

    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "reports": len(self.sent),
            "expected_messages": self.expected,
            "received_messages": self.received,
            "p50_ms": round(self.p50_ms(), 1),
            "p95_ms": round(self.p95_ms(), 1),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=0.0) * 1000, 1),
            "lost": self.lost,
            "late_at_deadline": self.late,
            "percentiles_are_lower_bounds": bool(self.late),
            "duplicates": self.duplicates,
            **self.extra,
        }


def run(ctx: Context) -> RowResult:
    require_module("alerts.tasks", "the alert pipeline: Celery tasks and email (branch alerts)")
    with step("baseline: a bare Celery task, one email per report"):
        base = measure_baseline(ctx)
    log(f"baseline: p95 {base.p95_ms():.0f} ms, lost {base.lost}, duplicates {base.duplicates}")
    with step("app: reports through gunicorn, the alerts worker and SMTP"):
        app = measure_app(ctx)
    log(
        f"app: {app.expected} messages for {len(app.sent)} reports, p50 {app.p50_ms():.0f} ms,"
        f" p95 {app.p95_ms():.0f} ms, lost {app.lost}, duplicates {app.duplicates}"
    )
    return result(ctx, app, base)


def result(ctx: Context, app: InboxResult, base: InboxResult) -> RowResult:
    rate = f"{RATE:g} reports/s for {duration(ctx):g} s"
    bound = "≥ " if app.late else ""  # censored latencies: the percentiles are lower bounds
    return RowResult(
        KEY,
        TITLE,
        checks=[
            Check(
                f"p95 report answered → email received, {rate}",
                app.p95_ms(),
                P95_GOAL,
                app=f"{bound}{fmt(app.p95_ms())} ms",
                baseline=f"{fmt(base.p95_ms())} ms",
                unit="ms",
            ),
            Check(
                "p50 report answered → email received",
                app.p50_ms(),
                app=f"{bound}{fmt(app.p50_ms())} ms",
                baseline=f"{fmt(base.p50_ms())} ms",
                unit="ms",
            ),
            Check(
                f"messages lost, of {app.expected} ({app.recipients_per_report():g} per report)",
                app.lost,
                LOST_GOAL,
                app=str(app.lost),
                baseline=f"{base.lost} of {base.expected}",
            ),
            Check(
                f"still queued {drain(ctx):g} s after the last report (not lost: late)",
                app.late,
                app=str(app.late),
                baseline=str(base.late),
            ),
            Check(
                "duplicate messages",
                app.duplicates,
                DUPLICATE_GOAL,
                app=str(app.duplicates),
                baseline=str(base.duplicates),
            ),
        ],
        figures={
            "rate_per_s": RATE,
            "seconds": duration(ctx),
            "app": app.summary(),
            "baseline": base.summary(),
            "database": {"establishments": VOLUME.establishments, "reports": VOLUME.reports},
        },
    )


def duration(ctx: Context) -> float:
    return 60.0 if ctx.sizes.name == "full" else 10.0


def drain(ctx: Context) -> float:
    return DRAIN_SECONDS.get(ctx.sizes.name, 60.0)


# --- the app ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    id: int
    slug: str


def measure_app(ctx: Context) -> InboxResult:
    url = ctx.databases.get(VOLUME)
    try:
        return measure_on(ctx, url)
    finally:
        ctx.databases.discard(VOLUME)


def measure_on(ctx: Context, url: str) -> InboxResult:
    reports = int(RATE * duration(ctx))
    needed = -(-reports // RISES_PER_ESTABLISHMENT) + 1  # and one for the warm-up
    green = green_establishments(url)
    if len(green) < needed:
        raise RuntimeError(f"{len(green)} green establishments, {needed} needed")
    warm_up, targets = green[0], green[1:needed]
    contacts = add_alert_contacts(url)
    tokens = make_tokens(url, CLIENTS, ctx.instance(KEY))
    queue = queue_name(KEY)
    with smtp_sink() as sink:
        env = alerts_env(url, ctx.instance(KEY), queue, sink.port, ALERT_GROUP_WAIT="0")
        ready = Request("GET", "/api/v1/referentiel")
        with (
            alerts_worker(env, queue) as worker,
            gunicorn("app", "barometre:create_app()", env, ready) as server,
        ):
            poster = Poster(server.port, tokens)
            with step("warm-up report, until its emails arrive"):
                poster.post(report_body(warm_up.slug, 0))
                poster.check()
                warm = notification_ids_after(url, 0)
                settle(sink, len(warm), timeout=60, check=worker.check_alive)
                if len(sink.arrivals) < len(warm):
                    raise RuntimeError(
                        f"warm-up: {len(sink.arrivals)} of {len(warm)} emails arrived\n"
                        + worker.log_tail()
                    )
            watermark = max(warm)
            sink.arrivals.clear()
            poster.answered.clear()
            with step(f"{reports} reports at {RATE:g}/s"):
                with ThreadPoolExecutor(SENDERS) as pool:

                    def send(n: int) -> None:
                        target = targets[n // RISES_PER_ESTABLISHMENT]
                        body = report_body(target.slug, n % RISES_PER_ESTABLISHMENT)
                        pool.submit(poster.post, body)

                    paced(RATE, duration(ctx), send)
                poster.check()
            expected = notification_ids_after(url, watermark)
            with step(f"waiting for {len(expected)} emails"):
                settle(sink, len(expected), drain(ctx), check=worker.check_alive)
            # States first, then the arrivals: a row the database says was sent has arrived.
            pending = unsent(url, expected)
            arrivals = list(sink.arrivals)
            deadline = time.time()
            worker_peak = worker.peak_rss_mb()
    outcome = judge_app(url, poster, arrivals, expected, pending, deadline)
    outcome.extra.update(
        {
            "establishment_contacts": contacts,
            "notification_states": notification_states(url, watermark),
            "worker_peak_rss_mb": round(worker_peak, 1),
            "answer_p95_ms": round(percentile(poster.latencies, 95) * 1000, 1),
        }
    )
    return outcome


class Poster:
    """POSTs reports from a pool of threads; keeps when each 201 came back, by report id."""

    def __init__(self, port: int, tokens: Sequence[str]) -> None:
        self.port = port
        self.tokens = tokens
        self.answered: dict[int, float] = {}
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.not_rises = 0
        self.count = 0
        self.lock = threading.Lock()

    def post(self, body: dict[str, Any]) -> None:
        with self.lock:
            token = self.tokens[self.count % len(self.tokens)]
            self.count += 1
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        request = Request("POST", "/api/v1/reports", json.dumps(body).encode(), headers)
        started = time.time()
        status, raw = fetch(self.port, request)
        at = time.time()
        with self.lock:
            if status != 201:
                self.errors.append(f"{status} {raw[:300]!r}")
                return
            answer = json.loads(raw)
            self.answered[int(answer["id"])] = at
            self.latencies.append(at - started)
            if rank(answer["level"]) <= rank(answer["level_before"]):
                self.not_rises += 1

    def check(self) -> None:
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} reports not created, first: {self.errors[0]}")
        if self.not_rises:
            raise RuntimeError(f"{self.not_rises} reports did not raise the level")


def rank(level: dict[str, Any]) -> int:
    return rank_of(str(level["colour"]), int(level["step"]))


def report_body(slug: str, index: int) -> dict[str, Any]:
    """The index-th report (0..4) of an establishment: a new condition each time."""
    last = index == RISES_PER_ESTABLISHMENT - 1
    return {
        "establishment": slug,
        "visit_date": clock.today().isoformat(),
        "conditions": [CONDITIONS[index].code],
        # The fifth situation on a second offer type: red (R4).
        "offer_types": ["collectif"] if last else ["individuel"],
        "submission_id": str(uuid.uuid4()),
    }


def green_establishments(url: str) -> list[Target]:
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT e.id, e.slug FROM establishment e WHERE e.active AND e.colour = 'vert'"
            " AND NOT EXISTS (SELECT 1 FROM situation s WHERE s.establishment_id = e.id"
            " AND s.status = 'open') ORDER BY e.id"
        ).fetchall()
    return [Target(int(i), str(s)) for i, s in rows]


def add_alert_contacts(url: str) -> int:
    """One contact per establishment who wants alerts (fr and nl in turn)."""
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM establishment ORDER BY id")]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO contact (establishment_id, email, name, language, alerts, digest,"
                " red_only) VALUES (%s, %s, %s, %s, true, true, false)",
                [
                    (eid, f"direction{eid}@prison.bench", f"Direction {eid}", ("fr", "nl")[n % 2])
                    for n, eid in enumerate(ids)
                ],
            )
    return len(ids)


def notification_ids_after(url: str, watermark: int) -> list[int]:
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT id FROM notification WHERE id > %s ORDER BY id", (watermark,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def notification_states(url: str, watermark: int) -> dict[str, int]:
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM notification WHERE id > %s GROUP BY state", (watermark,)
        ).fetchall()
    return {str(s): int(n) for s, n in rows}


def report_of_notifications(url: str, ids: Sequence[int]) -> dict[int, int]:
    """notification id → id of the report whose level change the alert announces."""
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT n.id, c.cause_id FROM notification n"
            " JOIN alert_event e ON e.id = n.event_id"
            " JOIN level_change c ON c.id = (e.level_change_ids ->> 0)::int"
            " WHERE n.id = ANY(%s) AND c.cause = 'report'",
            (list(ids),),
        ).fetchall()
    return {int(n): int(r) for n, r in rows}


def unsent(url: str, ids: Sequence[int]) -> set[int]:
    """Notifications still waiting in the queue (pending) or being sent: late, not lost."""
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT id FROM notification WHERE id = ANY(%s) AND state IN ('pending', 'sending')",
            (list(ids),),
        ).fetchall()
    return {int(r[0]) for r in rows}


def judge_app(
    url: str,
    poster: Poster,
    arrivals_seen: Sequence[Arrival],
    expected: Sequence[int],
    pending: set[int],
    deadline: float,
) -> InboxResult:
    """Latency of every expected message; one still queued at the deadline counts as late.

    A late message's latency is censored at the deadline: the percentiles are then
    lower bounds (`late` says how many). Lost: failed, or recorded as sent and
    never received.
    """
    outcome = InboxResult(sent={str(r): t for r, t in poster.answered.items()})
    report_of = report_of_notifications(url, expected)
    missing = set(expected) - set(report_of)
    if missing:
        raise RuntimeError(f"{len(missing)} notifications not linked to a report")
    arrivals: dict[int, list[float]] = {}
    strangers = 0
    for arrival in arrivals_seen:
        found = MESSAGE_ID.match(arrival.message_id)
        if found is None or int(found.group(1)) not in report_of:
            strangers += 1
            continue
        arrivals.setdefault(int(found.group(1)), []).append(arrival.at)
    outcome.expected = len(expected)
    outcome.received = len(arrivals)
    late = (pending & set(expected)) - set(arrivals)
    outcome.lost = len(set(expected) - set(arrivals) - late)
    outcome.late = len(late)
    # Extra copies of one notification's message (same Message-ID, same recipient).
    outcome.duplicates = sum(len(times) - 1 for times in arrivals.values())
    outcome.latencies = [
        min(times) - poster.answered[report_of[n]] for n, times in arrivals.items()
    ] + [deadline - poster.answered[report_of[n]] for n in late]
    outcome.extra["unexpected_messages"] = strangers
    return outcome


# --- the baseline -----------------------------------------------------------------------


def measure_baseline(ctx: Context) -> InboxResult:
    """A bare Celery task sending one email per report, paced like the app's reports."""
    from ..baseline.mailer import QUEUE, app, send_one

    with smtp_sink() as sink:
        worker = start_worker("bench.baseline.mailer", QUEUE)
        try:
            app.control.purge()
            wait_for(sink, lambda: send_one.delay("warm-up", sink.port), "warm-up")
            sink.arrivals.clear()
            outcome = InboxResult()

            def send(n: int) -> None:
                outcome.sent[str(n)] = time.time()
                send_one.delay(str(n), sink.port)

            paced(RATE, duration(ctx), send)
            settle(sink, len(outcome.sent))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    return judge(outcome, sink)


def judge(outcome: InboxResult, sink: SmtpSink) -> InboxResult:
    first: dict[str, float] = {}
    for arrival in sink.arrivals:
        first.setdefault(arrival.bench_id, arrival.at)
    outcome.latencies = [first[i] - t for i, t in outcome.sent.items() if i in first]
    outcome.lost = len(set(outcome.sent) - set(first))
    outcome.duplicates = len(sink.duplicates())
    outcome.expected = len(outcome.sent)
    outcome.received = len(set(outcome.sent) & set(first))
    return outcome


def start_worker(app_module: str, queue: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "celery", "-A", app_module, "worker", "-Q", queue,
        "--concurrency", "2", "--loglevel", "warning",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "REDIS_URL": REDIS_URL})


def wait_for(sink: SmtpSink, send: object, label: str, timeout: float = 60) -> None:
    send()  # type: ignore[operator]
    deadline = time.monotonic() + timeout
    while not sink.arrivals:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no email for {label} after {timeout} s")
        time.sleep(0.05)


def settle(
    sink: SmtpSink,
    expected: int,
    timeout: float = 30,
    check: Callable[[], None] | None = None,
) -> None:
    """Wait until `expected` messages arrived (or `timeout`), then a second for late duplicates."""
    deadline = time.monotonic() + timeout
    while len(sink.arrivals) < expected and time.monotonic() < deadline:
        if check is not None:
            check()
        time.sleep(0.1)
    time.sleep(1.0)  # late duplicates would arrive now
