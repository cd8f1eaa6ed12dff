"""`python -m bench [--quick] [--only KEY,…]`: run the rows, print the table, write JSON."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from datetime import UTC, datetime

from .context import Context
from .core import FULL, QUICK, NotMeasured, RowResult, describe, machine, table, write_json
from .rows import ROWS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller volumes, under 3 minutes")
    parser.add_argument("--only", default="", help="comma-separated row keys: " + ", ".join(
        row.KEY for row in ROWS))  # fmt: skip
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    wanted = {k.strip() for k in args.only.split(",") if k.strip()}
    started = datetime.now(UTC).replace(microsecond=0).isoformat()
    began = time.perf_counter()
    ctx = Context(sizes)
    results: list[RowResult] = []
    try:
        for row in ROWS:
            if wanted and row.KEY not in wanted:
                continue
            results.append(run_row(row, ctx))
    finally:
        ctx.close()
    seconds = time.perf_counter() - began
    path = write_json(sizes, results, started, seconds, ctx.databases.stats)
    print()
    print(f"Baromètre benchmark ({sizes.name}, {seconds:.0f} s) — {describe(machine())}")
    print()
    print(table(results))
    print(f"\nJSON: {path}")
    return 1 if any(r.error for r in results) else 0


def run_row(row: object, ctx: Context) -> RowResult:
    key, title = getattr(row, "KEY"), getattr(row, "TITLE")  # noqa: B009 - a module
    print(f"{title}:", flush=True)
    began = time.perf_counter()
    try:
        result: RowResult = row.run(ctx)  # type: ignore[attr-defined]
    except NotMeasured as missing:
        result = RowResult(key, title, not_measured=str(missing))
    except Exception as error:
        traceback.print_exc()
        result = RowResult(key, title, error=f"{type(error).__name__}: {error}"[:300])
    result.seconds = time.perf_counter() - began
    result.goals = getattr(row, "GOALS", "")
    print(f"  → {result.status} ({result.seconds:.0f} s)", flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
