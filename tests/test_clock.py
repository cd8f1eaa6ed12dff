"""The day and the local hour follow TIMEZONE, not a zone written in the code."""

from __future__ import annotations

import ast
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from freezegun import freeze_time

from barometre import clock
from barometre.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def auckland(tmp_path: Any) -> Flask:
    return create_app(make_settings(tmp_path, timezone="Pacific/Auckland"))


def test_today_is_the_day_where_visits_happen(auckland: Flask) -> None:
    with freeze_time("2026-11-30 12:00:00"):
        assert clock.today() == date(2026, 11, 30)  # Brussels, outside an app
        with auckland.app_context():
            assert clock.today() == date(2026, 12, 1)  # 01:00 the next day in Auckland
            assert clock.local_day(datetime(2026, 6, 30, 13, 0)) == date(2026, 7, 1)


def test_a_local_hour_is_stored_in_utc(auckland: Flask) -> None:
    with auckland.app_context():
        # 08:00 in Auckland (NZDT, UTC+13) on 1 December is 19:00 UTC the day before.
        assert clock.local_moment(date(2026, 12, 1), 8) == datetime(2026, 11, 30, 19, 0)
    assert clock.local_moment(date(2026, 12, 1), 8) == datetime(2026, 12, 1, 7, 0)


def clock_reads_at_import(source: str) -> list[int]:
    """Lines of a module reading the clock outside any function: at collection time."""
    tree = ast.parse(source)
    bodies = [
        part
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for part in (function.body if isinstance(function.body, list) else [function.body])
    ]  # decorators and defaults run at import: only bodies wait for the call
    in_functions = {id(node) for part in bodies for node in ast.walk(part)}
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and id(node) not in in_functions
        and ast.unparse(node.func).endswith(("today", "now", "utcnow"))
    ]


def test_reading_the_clock_at_import_is_caught() -> None:
    assert clock_reads_at_import("TODAY = clock.today()\n") == [1]
    assert clock_reads_at_import("@p([(clock.now(), 1)])\ndef t(): pass\n") == [1]
    assert clock_reads_at_import("def t():\n    return clock.today()\n") == []


def test_no_test_reads_the_clock_at_collection() -> None:
    """A date read when pytest collects is yesterday's for a run that crosses midnight
    (Brussels): the API test sent « tomorrow » as today and got 201 (CI, 6 December)."""
    tests = Path(__file__).parent
    found = {
        str(path.relative_to(tests)): lines
        for path in sorted(tests.rglob("*.py"))
        if (lines := clock_reads_at_import(path.read_text(encoding="utf-8")))
    }
    assert found == {}
