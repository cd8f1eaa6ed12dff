"""Pooled PostgreSQL connections dropped while idle are replaced, not turned into errors.

The pool does not ping on every checkout (a round trip per request); a
connection idle for IDLE_PING_SECONDS is checked before use. Here the server
ends every connection of the pool while it is idle: the next request must
still answer.
"""

from __future__ import annotations

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from barometre import app as app_module
from barometre.extensions import db

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_barometer": True}


def end_pool_connections(app: Flask) -> int:
    """Terminate, from outside, every server process of this app's database but ours."""
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_an_idle_connection_ended_by_the_server_is_replaced(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/api/v1/establishments").status_code == 200
    db.session.remove()  # every connection back in the pool, idle
    assert end_pool_connections(app) >= 1
    monkeypatch.setattr(app_module, "IDLE_PING_SECONDS", 0.0)  # "idle for a while"

    assert client.get("/api/v1/establishments/haren").status_code == 200
    assert db.session.execute(text("SELECT 1")).scalar() == 1
