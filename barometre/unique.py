"""Insert a row unless its unique key is taken, in one statement, the same on every database.

Two workers, a task run twice or two beat processes may record the same row
(a digest run, a day's warning, a reminder): the second insert must do
nothing, without an error that would end its transaction. PostgreSQL and
SQLite (3.24 and later) write that alike, `INSERT … ON CONFLICT (key) DO
NOTHING RETURNING id`; SQLAlchemy has the clause only per dialect, so it is
added here once, as a syntax extension of the standard `insert`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Insert, insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import SyntaxExtension
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.visitors import InternalTraversal

from .extensions import DbSession


class SkipTaken(SyntaxExtension, ClauseElement):
    """ON CONFLICT (`columns`) DO NOTHING, after an INSERT's values."""

    __visit_name__ = "skip_taken"
    inherit_cache = True
    _traverse_internals = [("columns", InternalTraversal.dp_clauseelement_tuple)]

    def __init__(self, columns: Sequence[Column[Any]]) -> None:
        self.columns = tuple(columns)

    def apply_to_insert(self, insert_stmt: Insert) -> None:
        insert_stmt.apply_syntax_extension_point(self.append_replacing_same_type, "post_values")


@compiles(SkipTaken)
def _skip_taken(element: SkipTaken, compiler: SQLCompiler, **_: Any) -> str:
    names = ", ".join(compiler.preparer.quote(column.name) for column in element.columns)
    return f"ON CONFLICT ({names}) DO NOTHING"


def insert_unless_taken(
    session: DbSession,
    model: Any,
    key: Sequence[InstrumentedAttribute[Any]],
    **values: Any,
) -> int | None:
    """Insert a row of `model` and return its id; None, and nothing written, when a row
    with the same `key` (its columns of one unique constraint) is there already."""
    columns = [attribute.property.columns[0] for attribute in key]
    statement = insert(model).values(**values).ext(SkipTaken(columns)).returning(model.id)
    found = session.scalar(statement)
    return None if found is None else int(found)
