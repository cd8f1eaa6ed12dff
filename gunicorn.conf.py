"""Gunicorn settings of the production shape (docker-compose.yml, bench/load_test.py).

Run as `gunicorn --config gunicorn.conf.py 'barometre:create_app()'`.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = 1
timeout = 30
graceful_timeout = 20
keepalive = 5
# No access log: the app writes one JSON line per request, without query strings.
accesslog = None
errorlog = "-"
# Recycle workers now and then: a slow leak never becomes an outage.
max_requests = 2000
max_requests_jitter = 200


def on_starting(server: object) -> None:
    """Check the settings once, in the master: one clear message, then exit code 4."""
    from barometre.settings import settings_from_env_or_exit

    settings_from_env_or_exit()
