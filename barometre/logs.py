"""Structured logs: one JSON line per event, safe to keep and to ship.

What a request log says: method, route, status, duration. Never the query
string, the body, a header, the client address or the concrete path of a
route with parameters (signed links carry their token in the path): only
the route's pattern, e.g. `/api/v1/establishments/<slug>`.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from flask import Flask, g, request, request_started
from flask.logging import default_handler
from werkzeug.wrappers import Response

from .jsonline import json_line
from .settings import Settings

request_logger = logging.getLogger("barometre.request")
MAX_PATH = 200


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json_line(
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            getattr(record, "fields", {}),
            record.created,
            self.formatException(record.exc_info) if record.exc_info else "",
        )


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", {})
        return line + "".join(f" {key}={value}" for key, value in fields.items())


class _OurHandler(logging.StreamHandler):
    """Marks the handler we installed, so a second app does not add another."""


def formatter_for(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else TextFormatter()


def configure_logging(settings: Settings, level: int | None = None) -> None:
    """One handler on the root logger, on this process's real stderr: called once per
    process by the web app, the CLI, and the Celery worker and beat (alerts.process).

    A second call replaces the handler (never two); `level` None keeps the level set
    earlier (the worker's --loglevel), or INFO.
    """
    root = logging.getLogger()
    had_ours = False
    for handler in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(handler)
        had_ours = True
    # The real stderr, even where a library swapped sys.stderr for a logging proxy:
    # writing to such a proxy logs every line a second time.
    handler = _OurHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(formatter_for(settings))
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    elif not had_ours:
        root.setLevel(logging.INFO)


def route_of_request() -> str:
    if request.url_rule is not None:
        return request.url_rule.rule
    return request.path[:MAX_PATH]


def _mark_start(_sender: Flask, **_extra: Any) -> None:
    g.request_started = time.perf_counter()


def log_request(response: Response) -> Response:
    started = g.get("request_started", time.perf_counter())
    request_logger.info(
        "request",
        extra={
            "fields": {
                "method": request.method,
                "path": route_of_request(),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        },
    )
    return response


def _not_a_request_line(record: logging.LogRecord) -> bool:
    """The development server's own line per request (`"GET / HTTP/1.1" 200 -`): ours,
    « request », says it already, without the client address and the query."""
    return '] "%s" %s %s' not in str(record.msg)


def init_logging(app: Flask) -> None:
    settings: Settings = app.config["SETTINGS"]
    werkzeug_logger = logging.getLogger("werkzeug")
    if _not_a_request_line not in werkzeug_logger.filters:
        werkzeug_logger.addFilter(_not_a_request_line)
    if not settings.testing:
        configure_logging(settings)
        # Our root handler formats Flask's own messages too.
        app.logger.removeHandler(default_handler)
    # Connected to the request_started signal, so the time counts from before any
    # before_request function (access checks may answer early).
    request_started.connect(_mark_start, app)
    app.after_request(log_request)
