"""`celery -A tests.alerts.quickbeat beat`: the product's beat, reconciling every few seconds.

The fault tests wait for the reconciler; at its real pace (`RECONCILE_EVERY`, a
minute) each would wait a minute per run. Everything else is the product's app:
settings, scheduler, beat lock, logs.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from alerts import celery_app

RECONCILE_EVERY = 2.0


def quicken(sender: Celery, **_: Any) -> None:
    sender.conf.beat_schedule["reconcile"]["schedule"] = RECONCILE_EVERY


celery_app.on_after_configure.connect(quicken, weak=False)
app = celery_app
