"""Report → inbox: from "Envoyer" to the email in the SMTP server, through the real pipeline.

Goal: p95 ≤ 250 ms at 10 reports/s for 60 s (quick: 10 s), zero lost, zero duplicate.

Needs the alert pipeline (branch `alerts`): a Celery app, the recompute/notify
tasks, email sending on SMTP. Until it is merged the row is "not measured".

How to wire it after merging (`measure_app`):
1. `ctx.databases.get(Volume(200, 10_000))`; add contacts that accept alerts
   (e.g. one per establishment) so each rise has known recipients.
2. Start gunicorn (`servers.gunicorn`) with `servers.app_env(url, …,
   ALERT_GROUP_WAIT="0", SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port))` and a
   `celery worker` of the alerts app (same env, its own queue names), inside
   `mail.smtp_sink()`.
3. `mail.paced(10, seconds, send)` where `send(n)` POSTs a report that raises a
   level: report n names establishment n // 5 and a condition not yet open
   there, so each report opens a situation and every one of the first five is
   a rise (orange 1…5; the sixth on a second offer type turns red).
4. Expected messages = rises × recipients (read the notification rows). Latency
   of each = SMTP arrival − 201 answer time of its report; match by the
   Message-ID the alerts package derives from the notification id. Lost =
   expected − received; duplicates = `sink.duplicates()`.
5. Compare with `measure_baseline` (already working): the same pacing, each
   send is one `send_one.delay()` of a bare Celery task.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ..context import Context
from ..core import ROOT, Goal, NotMeasured, RowResult, percentile
from ..features import require_module
from ..mail import SmtpSink, paced, smtp_sink
from ..servers import REDIS_URL

KEY = "inbox"
TITLE = "report → inbox"
GOALS = "p95 ≤ 250 ms, zero lost, zero duplicate"
P95_GOAL = Goal("<=", 250, "ms")
LOST_GOAL = Goal("<=", 0)
DUPLICATE_GOAL = Goal("<=", 0)
RATE = 10.0  # reports per second


@dataclass
class InboxResult:
    sent: dict[str, float] = field(default_factory=dict)  # id → send time
    latencies: list[float] = field(default_factory=list)  # seconds
    lost: int = 0
    duplicates: int = 0

    def p95_ms(self) -> float:
        return percentile(self.latencies, 95) * 1000


def run(ctx: Context) -> RowResult:
    require_module("alerts.tasks", "the alert pipeline: Celery tasks and email (branch alerts)")
    raise NotMeasured("not wired yet: alerts is merged: wire measure_app() as the docstring says")


def duration(ctx: Context) -> float:
    return 60.0 if ctx.sizes.name == "full" else 10.0


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


def settle(sink: SmtpSink, expected: int, timeout: float = 30) -> None:
    """Wait until `expected` messages arrived, or nothing new came for a while."""
    deadline = time.monotonic() + timeout
    while len(sink.arrivals) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # late duplicates would arrive now
