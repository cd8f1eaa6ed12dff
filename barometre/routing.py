"""Ids from the outside: every id in a path or a query string is bounded before it reaches SQL."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

# Ids are 32-bit integer columns: PostgreSQL refuses to compare them with a larger number.
MAX_DB_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<id:name>`: a row id, 1 to 2**31 - 1; any other path segment is a 404."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, min=1, max=MAX_DB_ID)


def query_id(value: str) -> int:
    """An id given in a query string, under the rule of ids in paths: ASCII digits, 1 to
    2**31 - 1. Anything else raises ValueError, so that `request.args.get(name,
    type=query_id)` ignores it (None), as the lists ignore any filter they do not offer.
    """
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(MAX_DB_ID))):
        raise ValueError(value)
    number = int(value)
    if not 1 <= number <= MAX_DB_ID:
        raise ValueError(value)
    return number


def init_routing(app: Flask) -> None:
    """Before any blueprint: rules resolve their converters when they are added."""
    app.url_map.converters["id"] = IdConverter
