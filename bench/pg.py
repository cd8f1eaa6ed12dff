"""Dedicated PostgreSQL databases for the benchmark, created and dropped by it.

Names carry the bench's pid so that two runs, or the test suite, never collide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def url_for(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def create(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url_for(name)


def drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(label: str) -> Iterator[str]:
    """A fresh empty database for the block; dropped afterwards, even on failure."""
    name = f"barometre_bench_{label}_{os.getpid()}"
    url = create(name)
    try:
        yield url
    finally:
        drop(name)


def server_version() -> str:
    with psycopg.connect(ADMIN_URL) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"
