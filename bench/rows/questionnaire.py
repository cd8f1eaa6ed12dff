"""Questionnaire POST: the HTML form, with CSRF and a session, against the bare baseline.

Goal: at least 0.4 of the baseline's requests/s.

The app runs in its production shape (gunicorn, PostgreSQL, Redis configured,
a real secret key) on the intake row's database (36 establishments, 10⁴ past
reports). Each load client is one generated worker, signed in with the session
cookie a login gives (`features.session_cookie` of `User.get_id()`, i.e.
"id:session_version"); before the rounds it GETs /signalement once, keeps the
session cookie that answer sets and reads the form's CSRF token. Every request
is then a POST of the questionnaire's fields (establishment slug, ISO visit
date, condition and offer-type codes, description, counts, the activity radio
"true"/"false", a fresh submission id, the empty honeypot, the CSRF token) and
must answer 303 (POST → redirect to the thank-you page).

The baseline is `bench.baseline`'s `POST /signalement`: the same form body,
parsed and validated by hand, one row inserted, 303; no WTForms, no CSRF, no
session. Both sides get the same requests; rounds alternate app and baseline
(the full run's number of rounds; 4 in the quick run).
Each round draws new reports (the form treats the same report from the same
worker within 10 minutes as a repeat and stores nothing).

Afterwards the number of stored reports must equal the number of redirects on
each side: a form that re-renders with errors answers fast and must never pass
for a figure.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import psycopg

from .. import baseline, datagen
from ..context import Context
from ..core import Goal, RowResult, log
from ..features import require_route, session_cookie
from ..load import HOST, LoadResult, Request, RequestMaker
from ..servers import SECRET_KEY, Server, app_env, gunicorn, measure
from . import intake

KEY = "questionnaire"
TITLE = "questionnaire POST"
GOALS = "≥ 0.4 of baseline req/s"
PATH = "/signalement"
RATIO_GOAL = Goal(">=", 0.4)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
REDIRECT = (303,)
VOLUME = intake.VOLUME
QUICK_ROUNDS = 4  # of app + baseline: the quick run stays under 3 minutes


def run(ctx: Context) -> RowResult:
    require_route(PATH, "the questionnaire at /signalement (branch intake)", method="POST")
    url = ctx.databases.get(VOLUME)
    try:
        return measure_on(ctx, url)
    finally:
        ctx.databases.discard(VOLUME)


def measure_on(ctx: Context, url: str) -> RowResult:
    baseline.create_schema(url)
    users = worker_session_ids(url, ctx.sizes.clients)
    slugs = intake.establishment_slugs(url)
    before = intake.count_reports(url), count_baseline_reports(url)
    env = app_env(url, ctx.instance(KEY))
    app_runs: list[LoadResult] = []
    base_runs: list[LoadResult] = []
    with (
        gunicorn(
            "app", "barometre:create_app()", env, Request("GET", "/api/v1/referentiel")
        ) as app,
        gunicorn(
            "baseline", "bench.baseline:create_app()", env, Request("GET", "/barometre")
        ) as base,
    ):
        sessions = [open_form(app, user) for user in users]
        log(f"{len(sessions)} workers signed in, CSRF tokens read from {PATH}")
        rounds = ctx.sizes.rounds if ctx.sizes.name == "full" else QUICK_ROUNDS
        for n in range(rounds):
            post = form_maker(sessions, slugs, salt=n + 1)
            app_runs.append(measure(app, post, ctx.sizes, f"round {n + 1} app", REDIRECT))
            base_runs.append(measure(base, post, ctx.sizes, f"round {n + 1} baseline", REDIRECT))
    stored = intake.count_reports(url) - before[0]
    stored_base = count_baseline_reports(url) - before[1]
    for side, runs, count in (("app", app_runs, stored), ("baseline", base_runs, stored_base)):
        redirects = sum(r.statuses.get(303, 0) for r in runs)
        if count != redirects:
            raise RuntimeError(f"{side}: {redirects} POSTs answered 303 but {count} stored")
    return result(app_runs, base_runs, stored)


def result(
    app_runs: Sequence[LoadResult], base_runs: Sequence[LoadResult], stored: int
) -> RowResult:
    return intake.throughput_result(KEY, TITLE, app_runs, base_runs, stored, RATIO_GOAL, None)


# --- the signed-in form ----------------------------------------------------------------------


def worker_session_ids(url: str, count: int) -> list[str]:
    """`User.get_id()` ("id:session_version") of the first `count` generated workers."""
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT id, session_version FROM user_account WHERE role = 'worker'"
            " ORDER BY id LIMIT %s",
            (count,),
        ).fetchall()
    if len(rows) < count:
        raise RuntimeError(f"{count} workers wanted, {len(rows)} in the database")
    return [f"{ident}:{version}" for ident, version in rows]


def open_form(server: Server, user_session_id: str) -> tuple[str, str]:
    """GET the questionnaire as this user: (session cookie to send from now on, CSRF token)."""
    cookie = session_cookie(SECRET_KEY, user_session_id)
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.request("GET", PATH, headers={"Cookie": f"session={cookie}"})
        response = conn.getresponse()
        html = response.read().decode("utf-8", "replace")
        set_cookie = response.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {PATH} signed in: {response.status} {html[:300]!r}")
    for header in set_cookie:
        jar: SimpleCookie = SimpleCookie(header)
        if "session" in jar:
            cookie = jar["session"].value  # now holds the CSRF secret
    return cookie, csrf_token(html)


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    if not found:
        raise RuntimeError("no csrf_token in the form")
    return found.group(1)


def form_maker(
    sessions: Sequence[tuple[str, str]], slugs: Sequence[str], salt: int
) -> RequestMaker:
    """Client i posts as worker i the reports `intake.report_drawer` draws for (salt, i, n)."""
    draw = intake.report_drawer(slugs, salt)

    def make(client: int, n: int) -> Request:
        cookie, token = sessions[client]
        headers = {
            "Cookie": f"session={cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        report = draw(client, n)
        # The form stores nothing for the same report from the same worker within 10
        # minutes (a repeat): over 10⁴ random draws two can be equal, so each is marked.
        report["description"] = f"{report['description']} (réf. {salt}.{client}.{n})".lstrip()
        return Request("POST", PATH, form_fields(report, token), headers)

    return make


def form_fields(report: dict[str, Any], token: str) -> bytes:
    """A report in the JSON shape as a browser posts the form: empty inputs are sent empty,
    an unchecked radio is not sent, the honeypot is sent empty."""
    pairs: list[tuple[str, Any]] = [("csrf_token", token)]
    for name, value in {"detainees_not_seen": None, **report}.items():
        if isinstance(value, list):
            pairs += [(name, v) for v in value]
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))  # the radio's values
        elif value is not None:
            pairs.append((name, value))
        elif name != "activity_cancelled":
            pairs.append((name, ""))
    pairs.append(("website", ""))
    return urlencode(pairs).encode()


def count_baseline_reports(url: str) -> int:
    with psycopg.connect(datagen.psycopg_url(url)) as conn:
        row = conn.execute("SELECT count(*) FROM bench_baseline_report").fetchone()
    return int(row[0]) if row else 0
