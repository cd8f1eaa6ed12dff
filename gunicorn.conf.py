"""Gunicorn settings of the production shape (docker-compose.yml, bench/load_test.py).

Run as `gunicorn --config gunicorn.conf.py 'barometre:create_app()'`.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or "3")
threads = 1
timeout = 30
graceful_timeout = 20
keepalive = 5
# No access log: the app writes one JSON line per request, without query strings.
accesslog = None
errorlog = "-"
# No control socket: it would go to $HOME/.gunicorn, read-only in the container
# ("Control server error: Read-only file system" at every start), and nothing uses it.
control_socket_disable = True
# Gunicorn's own lines (starting, workers booting, timeouts) as the app's: one JSON
# line each on stderr (LOG_FORMAT=text: the text format), never printed twice.
_formatter = "text" if os.environ.get("LOG_FORMAT") == "text" else "json"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "barometre.logs.JsonFormatter"},
        "text": {"()": "barometre.logs.TextFormatter"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": _formatter,
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
    "root": {"level": "INFO", "handlers": []},
}
# Recycle workers now and then: a slow leak never becomes an outage.
max_requests = 2000
max_requests_jitter = 200


def on_starting(server: object) -> None:
    """Check the settings once, in the master: one clear message, then exit code 4."""
    from barometre.settings import settings_from_env_or_exit

    settings_from_env_or_exit()
