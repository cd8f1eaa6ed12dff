"""One module per row of the benchmark table, each with `run(ctx: Context) -> RowResult`.

A row whose feature is not on this branch raises `NotMeasured("needs …")` and the
table says so; it never prints a made-up figure.
"""

from __future__ import annotations

from types import ModuleType

from . import barometer, digest, export, history, inbox, intake, questionnaire

# In table order. Rows that share a generated database follow each other
# (history ends on the largest volume, which the barometer row reuses).
ROWS: tuple[ModuleType, ...] = (
    intake,
    questionnaire,
    inbox,
    history,
    barometer,
    digest,
    export,
)
