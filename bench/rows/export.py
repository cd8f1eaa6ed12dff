"""Export: 10⁵ reports to XLSX and to CSV.

Goals: ≤ 30 s each, peak memory ≤ 300 MB (the export must stream).

Needs the coordinator exports (branch `pages`). Until they are merged the row
is "not measured".

How to wire it after merging (`measure_app`):
1. `ctx.databases.get(Volume(200, 100_000))` and start the app with
   `servers.gunicorn(…, workers=1)` so that one worker serves the export.
2. Sign in as a generated coordinator (`coordination1@bench.test`) with
   `features.session_cookie(servers.SECRET_KEY, user.get_id())`.
3. For each format, GET the export URL with `load.fetch`-like streaming
   (`http.client`, read in chunks, count bytes and rows), timed to the last
   byte; the worker's peak memory is `features.peak_rss_mb(worker pid)`
   (`features.children(server.process.pid)`), read after the download.
4. Check the row count of the file (CSV lines, or openpyxl read-only rows)
   equals the number of reports.
"""

from __future__ import annotations

from ..context import Context
from ..core import Goal, RowResult
from ..features import probe_app

KEY = "export"
TITLE = "export"
GOALS = "≤ 30 s each, peak memory ≤ 300 MB"
SECONDS_GOAL = Goal("<=", 30, "s")
MEMORY_GOAL = Goal("<=", 300, "MB")


def run(ctx: Context) -> RowResult:
    from ..core import NotMeasured

    if not any("export" in rule.rule for rule in probe_app().url_map.iter_rules()):
        raise NotMeasured("needs the XLSX/CSV exports (branch pages)")
    raise NotMeasured("not wired yet: the exports are merged: wire measure_app() (see docstring)")
