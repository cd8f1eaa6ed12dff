"""Count the SQL statements an engine executes, with a `before_cursor_execute` hook.

Used by the benchmark (queries per page) and by tests/test_query_counts.py (N+1 guard).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class QueryLog:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(
            f"{i + 1}. {s.splitlines()[0][:160]}" for i, s in enumerate(self.statements)
        )


# Left out: the app opens no savepoint; a test's transaction, rolled back at its end, does
# (tests/conftest.py) around every commit of the code under test.
SAVEPOINTS = ("SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT ")


@contextmanager
def count_queries(engine: Engine) -> Iterator[QueryLog]:
    """Every statement sent to the database inside the block, in order."""
    log = QueryLog()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(SAVEPOINTS):
            log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", record)
