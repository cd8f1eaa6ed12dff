"""Large history files for the import: what a committee with years of paper records keeps.

`reports_file(rows)` writes about `rows` lines (one per condition, 1 to 3 per report)
spread over the establishments given, from `start` to `end`, `;` with a BOM and
DD/MM/YYYY dates like a spreadsheet would; `resolutions_file` closes some of the
conditions those reports raised, later. Deterministic for a seed.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from datetime import date, timedelta

from barometre.history_files import REPORT_COLUMNS, RESOLUTION_COLUMNS
from barometre.referentiel import CONDITIONS, OFFER_TYPES

CODES = [c.code for c in CONDITIONS]
TYPES = [o.code for o in OFFER_TYPES]


def _csv(header: Sequence[str], rows: list[list[str]], delimiter: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def report_rows(
    rows: int, slugs: Sequence[str], start: date, end: date, seed: int = 24
) -> list[list[str]]:
    rng = random.Random(seed)
    days = (end - start).days
    found: list[list[str]] = []
    number = 0
    while len(found) < rows:
        number += 1
        slug = rng.choice(slugs)
        # Time order is not required: the import sorts the records by date.
        visit = start + timedelta(days=rng.randrange(days))
        codes = rng.sample(CODES, k=min(rng.choice((1, 1, 2, 3)), rows - len(found)))
        for index, code in enumerate(codes):
            types = "+".join(sorted(rng.sample(TYPES, k=rng.choice((1, 1, 2)))))
            wide = ["", "", "", "", ""]
            if index == 0:
                wide = [
                    "",
                    rng.choice(("", "Attente au guichet, visite écourtée.")),
                    str(rng.randrange(0, 120)),
                    rng.choice(("oui", "non", "")),
                    rng.choice(("", str(rng.randrange(1, 20)))),
                ]
            found.append([f"R-{number:06d}", slug, visit.strftime("%d/%m/%Y"), code, types, *wide])
    return found


def reports_file(rows: int, slugs: Sequence[str], start: date, end: date, seed: int = 24) -> bytes:
    return _csv(REPORT_COLUMNS, report_rows(rows, slugs, start, end, seed), ";")


def resolution_rows(
    reports: list[list[str]], ttl: int = 30, every: int = 20, seed: int = 24
) -> list[list[str]]:
    """Resolutions of some situations the reports opened, a few days after a visit, kept
    only where the situation is still open then (reports first in a day, expiry after
    `ttl` days without confirmation), as the import's replay will find it."""
    rng = random.Random(seed)
    visits = sorted({(_day(r[2]), r[1], r[3]) for r in reports}, key=lambda v: (v[0], v[1], v[2]))
    wanted = {(day + timedelta(days=rng.randrange(1, 10)), slug, code)
              for index, (day, slug, code) in enumerate(visits) if index % every == 0}  # fmt: skip
    events = [(day, 0, slug, code) for day, slug, code in visits]
    events += [(day, 1, slug, code) for day, slug, code in wanted]
    confirmed: dict[tuple[str, str], date] = {}
    found = []
    for day, kind, slug, code in sorted(events):
        key = (slug, code)
        last = confirmed.get(key)
        if last is not None and (day - last).days > ttl:
            del confirmed[key]  # expired
            last = None
        if kind == 0:
            confirmed[key] = day
        elif last is not None:
            del confirmed[key]
            found.append([slug, code, day.isoformat(), "Rétabli après la réunion du comité."])
    return found


def _day(value: str) -> date:
    day, month, year = (int(part) for part in value.split("/"))
    return date(year, month, day)


def history_files(
    rows: int, slugs: Sequence[str], start: date, end: date, seed: int = 24
) -> tuple[bytes, bytes]:
    """A reports file of `rows` lines and the resolutions file that goes with it."""
    reports = report_rows(rows, slugs, start, end, seed)
    return (
        _csv(REPORT_COLUMNS, reports, ";"),
        _csv(RESOLUTION_COLUMNS, resolution_rows(reports, seed=seed), ","),
    )
