"""One JSON line per request: method, route, status, duration; nothing private."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from barometre.logs import JsonFormatter, TextFormatter
from barometre.models import User
from tests.conftest import bearer

SECRETS = ("Pas de DECT", "mot-de-passe-solide", "bar_", "token=", "secret-query")


@pytest.fixture
def backend() -> str:
    return "sqlite"


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "barometre.request"]


def test_each_request_is_logged_with_its_route_not_its_path(
    client: FlaskClient, worker: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="barometre.request")
    client.get("/api/v1/establishments/haren?token=secret-query", headers=bearer(worker))
    (record,) = request_records(caplog)
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["method"] == "GET"
    assert fields["path"] == "/api/v1/establishments/<slug>"
    assert fields["status"] == 200
    assert 0 <= fields["duration_ms"] < 10_000


def test_nothing_private_reaches_the_logs(
    client: FlaskClient, worker: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = bearer(worker)
    body = {
        "establishment": "haren",
        "visit_date": "2000-01-01",
        "conditions": ["SEC-01"],
        "offer_types": ["individuel"],
        "description": "Pas de DECT à l'accueil",
    }
    client.post("/api/v1/reports?secret-query=1", json=body, headers=headers)
    client.post("/api/v1/reports", json={**body, "visit_date": None}, headers=headers)
    client.get("/nulle-part?token=secret-query")
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert lines
    for line in lines:
        for secret in (*SECRETS, headers["Authorization"][7:]):
            assert secret not in line, (secret, line)


def test_json_formatter_writes_one_parseable_line() -> None:
    record = logging.LogRecord("barometre.request", logging.INFO, __file__, 1, "request", (), None)
    record.fields = {"method": "GET", "path": "/", "status": 200}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["event"] == "request" and entry["status"] == 200 and entry["level"] == "info"
    assert entry["time"].endswith("+00:00")
    assert TextFormatter().format(record).endswith("method=GET path=/ status=200")


def test_an_unhandled_error_is_one_json_line_with_its_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "barometre", logging.ERROR, __file__, 1, "unhandled error", (), sys.exc_info()
        )
    entry = json.loads(JsonFormatter().format(record))
    assert "RuntimeError: boom" in entry["exception"]


APP_RUN = """
from barometre import create_app
from barometre.extensions import db
app = create_app()
with app.app_context():
    db.create_all()
client = app.test_client()
client.get("/healthz?token=secret-query")
client.get("/api/v1/establishments/haren")
client.get("/nulle-part")
"""


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_app_configures_its_logs_outside_tests(tmp_path: Path, log_format: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "INSTANCE_PATH": str(tmp_path),
        "LOG_FORMAT": log_format,
    }
    done = subprocess.run(
        [sys.executable, "-c", APP_RUN], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "request" in line]
    assert len(lines) == 3, done.stderr
    assert "secret-query" not in done.stderr
    if log_format == "json":
        entries = [json.loads(line) for line in lines]
        assert [(e["path"], e["status"]) for e in entries] == [
            ("/healthz", 200),
            ("/api/v1/establishments/<slug>", 401),
            ("/nulle-part", 404),
        ]
    else:
        assert "path=/healthz status=200" in lines[0]


def test_colours_go_and_a_multi_line_warning_is_one_event_with_its_detail() -> None:
    """Issue 28: the development server's colour codes reached the JSON; Celery's
    root-user warning was one event full of newlines."""
    record = logging.LogRecord(
        "celery.platforms",
        logging.WARNING,
        __file__,
        1,
        "\x1b[1mYou're running the worker with superuser privileges:\x1b[0m this is\n"
        "absolutely not recommended!\n\n  Please specify a different user.\n",
        None,
        None,
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["event"] == "You're running the worker with superuser privileges: this is"
    assert entry["detail"] == "absolutely not recommended! Please specify a different user."


def test_the_development_server_logs_a_request_once(client: FlaskClient) -> None:
    """Werkzeug's own request line (client address, query string, colours) is dropped:
    the app's « request » line is the one per request."""
    werkzeug = logging.getLogger("werkzeug")
    line = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '127.0.0.1 - - [07/Dec/2026 12:00:00] "%s" %s %s\n',
        ("GET /?token=x HTTP/1.1", "200", "-"),
        None,
    )
    start = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, " * Running on http://127.0.0.1:5000", None, None
    )
    assert not werkzeug.filter(line)
    assert werkzeug.filter(start)  # the address to open stays
