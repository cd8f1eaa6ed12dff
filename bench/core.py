"""The shape of a benchmark row: figures, goals, ratios, and the printed table.

Every figure that can be is a ratio to a baseline measured in the same run,
side by side, because the machine is shared and noisy; absolute numbers are
kept next to it. A row that needs a feature not built yet says so and carries
no figure.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Goal:
    """`value op threshold`, e.g. Goal(">=", 0.5) for "at least half the baseline"."""

    op: str
    threshold: float
    unit: str = ""

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def __str__(self) -> str:
        sign = "≥" if self.op == ">=" else "≤"
        return f"{sign} {self.threshold:g}{(' ' + self.unit) if self.unit else ''}"


@dataclass
class Check:
    """One figure of a row: the app's and the baseline's absolute values, the judged value."""

    label: str
    value: float
    goal: Goal | None = None
    app: str = ""
    baseline: str = ""
    unit: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value)

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["goal"] = str(self.goal) if self.goal else None
        body["met"] = self.met
        return body


@dataclass
class RowResult:
    key: str
    title: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    not_measured: str = ""
    error: str = ""
    seconds: float = 0.0
    goals: str = ""  # shown when the row has no figure

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if self.not_measured:
            return "not measured"
        return "met" if all(c.met is not False for c in self.checks) else "not met"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "not_measured": self.not_measured or None,
            "goals": self.goals,
            "error": self.error or None,
            "seconds": round(self.seconds, 1),
            "checks": [c.as_dict() for c in self.checks],
            "figures": self.figures,
        }


class NotMeasured(Exception):
    """Raised by a row whose feature is not on this branch: `needs <feature>`."""


@dataclass(frozen=True)
class Sizes:
    """What differs between `make bench-quick` (< 3 min) and `make bench`."""

    name: str
    rounds: int  # alternating app/baseline rounds per figure
    load_seconds: float  # per side per round
    clients: int
    history: tuple[int, ...]
    history_samples: int
    barometer_reports: int
    establishments: int = 200


QUICK = Sizes("quick", 5, 1.5, 4, (100, 10_000, 100_000), 60, 100_000)
FULL = Sizes("full", 30, 2.0, 4, (100, 10_000, 1_000_000), 200, 1_000_000)


def log(message: str) -> None:
    print(f"  · {message}", flush=True)


@contextmanager
def step(message: str) -> Iterator[None]:
    started = time.perf_counter()
    log(message + " …")
    yield
    log(f"{message}: {time.perf_counter() - started:.1f} s")


# --- numbers ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no value."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """Median of app/baseline ratios of rounds run back to back (robust to a noisy round)."""
    ratios = [app / base for app, base in pairs if base]
    return statistics.median(ratios) if ratios else 0.0


def fmt(value: float) -> str:
    if float(value).is_integer() and abs(value) < 100:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:,.0f}".replace(",", " ")
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


# --- the table and the JSON ------------------------------------------------------------


def table(rows: Sequence[RowResult]) -> str:
    """A Markdown table: printed by the runner and pasted into bench/RESULTS.md."""
    lines = [
        "| what | figure | app | baseline | value | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.error:
            lines.append(f"| {row.title} | error: {row.error} | | | | {row.goals} | **no** |")
            continue
        if row.not_measured:
            lines.append(
                f"| {row.title} | not measured: {row.not_measured} | | | | {row.goals} | — |"
            )
            continue
        for n, check in enumerate(row.checks):
            title = row.title if n == 0 else ""
            met = {True: "yes", False: "**no**", None: ""}[check.met]
            value = fmt(check.value) + (f" {check.unit}" if check.unit else "")
            goal = str(check.goal) if check.goal else ""
            lines.append(
                f"| {title} | {check.label} | {check.app} | {check.baseline} | {value}"
                f" | {goal} | {met} |"
            )
    return "\n".join(lines)


def describe(info: dict[str, Any]) -> str:
    return (
        f"{info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']},"
        f" PostgreSQL {info['postgresql']}, Redis {info['redis']},"
        f" load average {info['load_average'][0]:.1f} at the end, commit {info['commit'] or '?'}"
        + (" (modified)" if info["dirty"] else "")
    )


def machine() -> dict[str, Any]:
    from . import pg

    def output(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, cwd=ROOT)
            return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    redis = output("redis-cli", "-h", "127.0.0.1", "INFO", "server")
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": pg.server_version(),
        "redis": next(
            (line.split(":")[1] for line in redis.splitlines() if line.startswith("redis_version")),
            "?",
        ),
        "load_average": os.getloadavg(),
        "commit": output("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(output("git", "status", "--porcelain")),
    }


def write_json(
    sizes: Sizes,
    rows: Sequence[RowResult],
    started: str,
    seconds: float,
    generated: dict[str, Any],
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    body = {
        "mode": sizes.name,
        "started": started,
        "seconds": round(seconds, 1),
        "machine": machine(),
        "sizes": asdict(sizes),
        "generated_databases": generated,
        "rows": [row.as_dict() for row in rows],
    }
    path = RESULTS / f"{started.replace(':', '').replace('-', '')}-{sizes.name}.json"
    text = json.dumps(body, indent=2, ensure_ascii=False, default=str)
    path.write_text(text)
    (RESULTS / f"latest-{sizes.name}.json").write_text(text)
    return path
