"""Export: every report (10⁵ in the full run) to XLSX and to CSV, as a coordinator gets them.

Goals: ≤ 30 s each from the click to the last byte of the file, and the
process that writes the file peaks at ≤ 300 MB (the export must stream).

Production shape: gunicorn (2 workers) and one Celery worker of the `alerts` app
(`--pool solo`, so the worker process itself runs the task and its peak memory
is the export's), both with REDIS_URL on a private Redis database (purged
before and after), on a generated database of 200 establishments and 10⁵
reports (quick: 2·10⁴, said in the labels). For each format, a fresh worker
(so that its VmHWM belongs to this export alone) first runs a small warm-up
export (the situations of one establishment), which also proves the worker
is consuming. Then, signed in as `coordination1@bench.test` (the session
cookie a login gives), the row does what the console does: GET
/coordination/exports for the CSRF token, POST kind=reports and the format
with no filter (all reports), follow the page it redirects to until it stops
asking to refresh (every 0.2 s rather than the page's 2 s), download
/coordination/exports/<id>/fichier in chunks to a scratch file. The time runs
from the POST to the last byte; the peak memory is the worker's VmHWM read
after the download (its VmHWM after the warm-up is shown next to it: the
difference is what the export itself added).

Checks before any figure counts: the export row is `done`, and the file holds
one row per report of the database (CSV records minus the header; XLSX rows
of the first sheet with openpyxl in read-only mode, minus the header).
"""

from __future__ import annotations

import csv
import http.client
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import urlencode

import psycopg

from .. import datagen
from ..context import Context
from ..core import ROOT, Check, Goal, NotMeasured, RowResult, fmt, log, step
from ..features import peak_rss_mb, probe_app, session_cookie
from ..load import HOST, Request
from ..servers import SECRET_KEY, Server, app_env, gunicorn, stop

KEY = "export"
TITLE = "export"
GOALS = "≤ 30 s each, peak memory ≤ 300 MB"
SECONDS_GOAL = Goal("<=", 30, "s")
MEMORY_GOAL = Goal("<=", 300, "MB")
FULL_REPORTS = 100_000
QUICK_REPORTS = 20_000
# A Redis database of this row's own: the other rows use 15.
REDIS_URL = "redis://127.0.0.1:6379/12"
COORDINATOR = "coordination1@bench.test"
EXPORTS = "/coordination/exports"
FORMATS = ("xlsx", "csv")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
POLL = 0.2  # seconds between two looks at the export's page
TIMEOUT = 300.0  # an export still running after this is an error
CHUNK = 1 << 16
WEB_WORKERS = 2  # the web side only serves the form, the page and the file


@dataclass
class Outcome:
    fmt: str
    seconds: float
    peak_mb: float
    file_bytes: int
    rows: int
    export_id: int
    peak_before_mb: float = 0.0  # the worker's VmHWM after its warm-up, before this export


def run(ctx: Context) -> RowResult:
    if not any(rule.rule.startswith(EXPORTS) for rule in probe_app().url_map.iter_rules()):
        raise NotMeasured("needs the XLSX/CSV exports (branch pages)")
    reports = FULL_REPORTS if ctx.sizes.name == "full" else QUICK_REPORTS
    volume = datagen.Volume(establishments=ctx.sizes.establishments, reports=reports)
    url = ctx.databases.get(volume)
    try:
        return measure_on(ctx, url, volume)
    finally:
        ctx.databases.discard(volume)
        flush_redis()


def measure_on(ctx: Context, url: str, volume: datagen.Volume) -> RowResult:
    expected = count(url, "SELECT count(*) FROM report")
    instance = ctx.instance(KEY)
    env = app_env(url, instance, REDIS_URL=REDIS_URL)
    coordinator = session_id(url, COORDINATOR)
    scratch = Path(ctx.instance(f"{KEY}-downloads"))
    flush_redis()
    outcomes: list[Outcome] = []
    with gunicorn(
        "app", "barometre:create_app()", env, Request("GET", "/api/v1/referentiel")
    ) as app:
        for fmt_ in FORMATS:
            with celery_worker(env, scratch / f"celery-{fmt_}.log") as worker:
                console = Console(app, coordinator)
                with step(f"{fmt_}: warm-up export (worker {worker.pid})"):
                    warm = console.start("situations", "csv", establishment="prison-0000")
                    console.wait(warm)
                before = peak_rss_mb(worker.pid)
                with step(f"{fmt_}: export of {expected:_} reports"):
                    outcome = console.export(fmt_, scratch / f"reports.{fmt_}", worker.pid)
                outcome.peak_before_mb = before
                outcome.rows = count_rows(scratch / f"reports.{fmt_}", fmt_)
                log(
                    f"{fmt_}: {outcome.seconds:.1f} s, peak {outcome.peak_mb:.0f} MB,"
                    f" {outcome.file_bytes / 1e6:.1f} MB file, {outcome.rows:_} rows"
                )
                if outcome.rows != expected:
                    raise RuntimeError(
                        f"{fmt_}: {outcome.rows} rows in the file, {expected} reports"
                    )
                stored = count(url, "SELECT row_count FROM export WHERE id = %s", outcome.export_id)
                if stored != expected:
                    raise RuntimeError(f"{fmt_}: export row says {stored} rows, {expected} reports")
                outcomes.append(outcome)
                (scratch / f"reports.{fmt_}").unlink()
    return result(outcomes, expected, volume, ctx.sizes.name)


def result(outcomes: list[Outcome], reports: int, volume: datagen.Volume, mode: str) -> RowResult:
    size = f"{reports:,}".replace(",", " ") + " reports" + (" (quick)" if mode != "full" else "")
    checks: list[Check] = []
    for o in outcomes:
        name = o.fmt.upper()
        checks.append(
            Check(
                f"{name} of {size}: POST → last byte",
                o.seconds,
                SECONDS_GOAL,
                app=f"{fmt(o.seconds)} s, {fmt(o.file_bytes / 1e6)} MB file",
                unit="s",
            )
        )
        checks.append(
            Check(
                f"{name}: peak memory of the Celery worker",
                o.peak_mb,
                MEMORY_GOAL,
                app=f"{fmt(o.peak_mb)} MB ({fmt(o.peak_before_mb)} MB before)",
                unit="MB",
            )
        )
    return RowResult(
        KEY,
        TITLE,
        checks=checks,
        figures={
            "reports": reports,
            "database": {"establishments": volume.establishments, "reports": volume.reports},
            "exports": [
                {
                    "format": o.fmt,
                    "seconds": round(o.seconds, 2),
                    "peak_rss_mb": round(o.peak_mb, 1),
                    "peak_rss_mb_before": round(o.peak_before_mb, 1),
                    "file_bytes": o.file_bytes,
                    "rows": o.rows,
                }
                for o in outcomes
            ],
            "worker": "celery -A alerts worker --pool solo",
        },
    )


# --- the console, driven over HTTP ----------------------------------------------------------


class Console:
    """A signed-in coordinator's browser: one session cookie, the form's CSRF token."""

    def __init__(self, server: Server, user_session_id: str) -> None:
        self.port = server.port
        self.cookie = session_cookie(SECRET_KEY, user_session_id)
        status, _headers, body = self.request("GET", EXPORTS)
        if status != 200:
            raise RuntimeError(f"GET {EXPORTS} as coordinator: {status} {body[:300]!r}")
        found = CSRF.search(body.decode("utf-8", "replace"))
        if not found:
            raise RuntimeError(f"no csrf_token on {EXPORTS}")
        self.token = found.group(1)

    def request(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {"Cookie": f"session={self.cookie}"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.keep_cookie(response.headers)
        return response.status, response.headers, data

    def keep_cookie(self, headers: http.client.HTTPMessage) -> None:
        for header in headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie(header)
            if "session" in jar and jar["session"].value:
                self.cookie = jar["session"].value

    def start(self, kind: str, fmt_: str, **filters: str) -> int:
        """POST the export form as the console does; the id of the export it redirects to."""
        path = EXPORTS + (f"?{urlencode(filters)}" if filters else "")
        form = urlencode({"csrf_token": self.token, "kind": kind, "format": fmt_}).encode()
        status, headers, body = self.request("POST", path, form)
        location = headers.get("Location", "")
        found = re.search(rf"{EXPORTS}/(\d+)$", location)
        if status not in (302, 303) or not found:
            raise RuntimeError(f"POST {EXPORTS}: {status} {location!r} {body[:300]!r}")
        return int(found.group(1))

    def wait(self, export_id: int) -> None:
        """Look at the export's page until it no longer asks to be refreshed."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            status, headers, body = self.request("GET", f"{EXPORTS}/{export_id}")
            if status != 200:
                raise RuntimeError(f"export page {export_id}: {status} {body[:300]!r}")
            if "Refresh" not in headers:
                return
            time.sleep(POLL)
        raise RuntimeError(f"export {export_id} not finished after {TIMEOUT:.0f} s")

    def download(self, export_id: int, path: Path) -> int:
        """Stream the file to `path`; its size in bytes."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        size = 0
        try:
            conn.request(
                "GET",
                f"{EXPORTS}/{export_id}/fichier",
                headers={"Cookie": f"session={self.cookie}"},
            )
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(
                    f"download {export_id}: {response.status} {response.read(300)!r}"
                )
            with path.open("wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    size += len(chunk)
        finally:
            conn.close()
        return size

    def export(self, fmt_: str, path: Path, worker_pid: int) -> Outcome:
        started = time.perf_counter()
        export_id = self.start("reports", fmt_)
        self.wait(export_id)
        size = self.download(export_id, path)
        seconds = time.perf_counter() - started
        return Outcome(fmt_, seconds, peak_rss_mb(worker_pid), size, 0, export_id)


# --- processes, database, files -------------------------------------------------------------


@contextmanager
def celery_worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A alerts worker --pool solo`, its output in `log_path`, stopped on exit."""
    command = [
        sys.executable, "-m", "celery", "-A", "alerts", "worker", "--pool", "solo",
        "--loglevel", "warning", "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    except Exception as error:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"{error}\ncelery worker log:\n" + "\n".join(tail)) from error
    finally:
        stop(process)


def flush_redis() -> None:
    """Empty this row's Redis database (queued tasks of an earlier run)."""
    number = REDIS_URL.rsplit("/", 1)[1]
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-n", number, "FLUSHDB"],
        check=True,
        capture_output=True,
        timeout=30,
    )


def session_id(url: str, email: str) -> str:
    """`User.get_id()` ("id:session_version") of a generated account."""
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        row = conn.execute(
            "SELECT id, session_version FROM user_account WHERE email = %s", (email,)
        ).fetchone()
    if row is None:
        raise RuntimeError(f"no account {email}")
    return f"{row[0]}:{row[1]}"


def count(url: str, query: LiteralString, *params: Any) -> int:
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def count_rows(path: Path, fmt_: str) -> int:
    """Data rows of the file (its header left out)."""
    if fmt_ == "csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return sum(1 for _ in csv.reader(handle, delimiter=";")) - 1
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    try:
        return sum(1 for _ in book.worksheets[0].iter_rows(values_only=True)) - 1
    finally:
        book.close()
