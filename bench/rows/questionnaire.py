"""Questionnaire POST: the HTML form, with CSRF and a session, against the bare baseline.

Goal: at least 0.4 of the baseline's requests/s (the same baseline as intake:
a bare Flask app that validates the fields by hand and inserts one row).

Needs the questionnaire at /signalement (branch `intake`). Until it is merged
the row is "not measured".

How to wire it after merging (`measure_app`): reuse `rows.intake` (same
database, tokens → users, gunicorn pair, rounds). Each load client is one
worker signed in with `features.session_cookie(SECRET_KEY, user.get_id())`;
its first request GETs /signalement and reads the CSRF token
(`csrf_token(html)`), every POST sends the form fields of `form_fields` with
that token and the session cookie, and must answer 302/303 (POST → redirect).
Check afterwards that the number of stored reports equals the number of
redirects, as the intake row does: a form that re-renders with errors answers
fast and must never pass for a figure.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from ..context import Context
from ..core import Goal, NotMeasured, RowResult
from ..features import require_route

KEY = "questionnaire"
TITLE = "questionnaire POST"
GOALS = "≥ 0.4 of baseline req/s"
PATH = "/signalement"
RATIO_GOAL = Goal(">=", 0.4)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def run(ctx: Context) -> RowResult:
    require_route(PATH, "the questionnaire at /signalement (branch intake)", method="POST")
    raise NotMeasured("not wired yet: write measure_app() (see docstring)")


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    if not found:
        raise RuntimeError("no csrf_token in the form")
    return found.group(1)


def form_fields(report: dict[str, Any], token: str) -> bytes:
    """The report of `rows.intake.report_maker` as the form posts it (check names on merge)."""
    pairs: list[tuple[str, Any]] = [("csrf_token", token)]
    for name, value in report.items():
        if isinstance(value, list):
            pairs += [(name, v) for v in value]
        elif isinstance(value, bool):
            pairs.append((name, "y" if value else ""))
        elif value is not None:
            pairs.append((name, value))
    return urlencode(pairs).encode()
