"""One event as one JSON line: the shape of every line our processes write.

Apart from the logging setup (`barometre.logs`), so that a process refusing its
settings (`barometre.settings.refuse_to_start`) writes the same line without it.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # terminal colours: no place in a JSON line


def event_and_detail(message: str) -> tuple[str, str]:
    """A message as one event line (its first), the rest folded into one detail line: a
    multi-line warning (Celery's, running as root) stays one readable JSON event."""
    lines = [line.strip() for line in ANSI.sub("", message).splitlines() if line.strip()]
    if not lines:
        return "", ""
    return lines[0], " ".join(" ".join(lines[1:]).split())


def json_line(
    level: str,
    logger: str,
    message: str,
    fields: dict[str, Any] | None = None,
    created: float | None = None,
    exception: str = "",
) -> str:
    """One event as one JSON line: the shape of every line our processes write."""
    event, detail = event_and_detail(message)
    moment = time.time() if created is None else created
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "event": event,
    }
    if detail:
        entry["detail"] = detail
    entry.update(fields or {})
    if exception:
        entry["exception"] = exception
    return json.dumps(entry, ensure_ascii=False, default=str)
