"""The embedded default's background loop: the reconciler, once a minute, in-process.

Without a broker nobody runs beat, yet grouped alerts fall due, retries come
due and the digest must go out on Monday. The first request a web process
serves starts one daemon thread that runs the reconciler every minute in the
app context (skipped under TESTING: tests call the reconciler themselves).
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from barometre.extensions import db

from .reconcile import reconcile

log = logging.getLogger(__name__)

INTERVAL = 60.0
TICKER_KEY = "alerts.ticker"


def tick(app: Flask) -> None:
    with app.app_context():
        try:
            reconcile(db.session, app.config["SETTINGS"])
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("alerts: embedded reconcile failed")


def _loop(app: Flask, stop: threading.Event) -> None:
    while not stop.wait(INTERVAL):
        tick(app)


def start_ticker(app: Flask) -> threading.Event | None:
    """Start the loop once per app; returns its stop event."""
    settings = app.config["SETTINGS"]
    if settings.broker_url or settings.testing or TICKER_KEY in app.extensions:
        return app.extensions.get(TICKER_KEY)
    stop = threading.Event()
    app.extensions[TICKER_KEY] = stop
    threading.Thread(target=_loop, args=(app, stop), name="alerts-ticker", daemon=True).start()
    return stop
