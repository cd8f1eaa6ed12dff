"""Many requests released at once on one state change: the races of the review actions
and of the console's forms share this harness."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from flask import Flask
from flask.testing import FlaskClient

from barometre.extensions import db
from barometre.models import User
from tests.conftest import login

N = 20
T = TypeVar("T")


def race(app: Flask, action: Callable[[int], T], n: int = N) -> list[T | BaseException]:
    """Run `action(index)` in n threads released at once, each in its own app context."""
    start = threading.Barrier(n)

    def run(index: int) -> T | BaseException:
        with app.app_context():
            start.wait()
            try:
                return action(index)
            except Exception as error:  # the test looks at what was raised
                db.session.rollback()
                return error
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def console_clients(app: Flask, coordinator: User, n: int = N) -> list[FlaskClient]:
    clients = [app.test_client() for _ in range(n)]
    for client in clients:
        login(client, coordinator)
    return clients
