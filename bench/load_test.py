"""Load test of the production shape on loopback (`make load-test`, not part of `make test`).

gunicorn as in docker-compose.yml (`gunicorn.conf.py`, `barometre:create_app()`,
BAROMETRE_ENV=production), a PostgreSQL database created for the run, Redis
configured; 20 concurrent clients post 200 reports through the JSON API.

Checks: 200 reports stored, no 5xx, and every establishment's cached level
equal to (a) `compute_level` over its open situations, (b) a recomputation
from scratch out of the stored reports alone, and (c) `flask levels recompute`
finding nothing to change. Prints the figures and writes them to
bench/results/load_test.json.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/12"  # database 12: the load test's own
CLIENTS = 20
REPORTS = 200
WEB_WORKERS = 3
OFFER_TYPES = ("individuel", "collectif", "cellulaire")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_database() -> tuple[str, str]:
    name = f"barometre_load_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "barometre", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def make_tokens(env: dict[str, str]) -> tuple[list[str], list[str]]:
    """20 workers of 4 services, one token each; and the référentiel's condition codes."""
    os.environ.update(env)
    from sqlalchemy import select

    from barometre import create_app
    from barometre.auth import create_token
    from barometre.extensions import db
    from barometre.models import Condition, User
    from barometre.seed import ensure_service

    app = create_app()
    with app.app_context():
        tokens = []
        for i in range(CLIENTS):
            service = ensure_service(db.session, f"Service {i % 4}")
            user = User(email=f"load-{i}@example.org", role="worker", service=service)
            db.session.add(user)
            tokens.append(create_token(db.session, user, "load"))
        db.session.commit()
        active = select(Condition.code).where(Condition.retired_at.is_(None))
        codes = list(db.session.scalars(active))
        db.engine.dispose()
    return tokens, codes


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        str(BIN / "gunicorn"),
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WEB_WORKERS),
        "barometre:create_app()",
    ]
    handle = log.open("wb")
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=handle, stderr=handle)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


@dataclass
class Results:
    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def report_body(rng: random.Random, codes: list[str]) -> dict[str, Any]:
    return {
        "establishment": rng.choice(["haren", "saint-gilles"]),
        "visit_date": (date.today() - timedelta(days=rng.randint(0, 20))).isoformat(),
        "conditions": rng.sample(codes, rng.randint(1, 3)),
        "offer_types": rng.sample(OFFER_TYPES, rng.randint(1, 2)),
        "description": "Charge : attente prolongée à l'accueil.",
        "minutes_waited": rng.randint(0, 180),
        "activity_cancelled": rng.random() < 0.3,
        "submission_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    }


def client(port: int, token: str, count: int, seed: int, codes: list[str], out: Results) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(count):
        body = json.dumps(report_body(rng, codes))
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/reports", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = 0
            with out.lock:
                out.errors.append(repr(error))
        elapsed = time.perf_counter() - started
        with out.lock:
            out.statuses.append(status)
            out.latencies.append(elapsed)
    conn.close()


def run_clients(port: int, tokens: list[str], codes: list[str]) -> tuple[Results, float]:
    out = Results()
    per_client = REPORTS // CLIENTS
    threads = [
        threading.Thread(target=client, args=(port, token, per_client, i, codes, out))
        for i, token in enumerate(tokens)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return out, time.perf_counter() - started


def check_levels(db_url: str) -> dict[str, Any]:
    """Cached level == compute_level(open situations) == a recomputation out of the reports."""
    from barometre.levels import Thresholds, compute_level

    thresholds = Thresholds()
    found: dict[str, Any] = {}
    with psycopg.connect(db_url) as conn:
        establishments = conn.execute(
            "SELECT id, slug, colour, step, open_situations, offer_types, red_blocked "
            "FROM establishment"
        ).fetchall()
        for ident, slug, colour, step, n_open, types, blocked in establishments:
            cached = (colour, step, n_open, tuple(t for t in types.split(",") if t), blocked)
            situations = conn.execute(
                "SELECT offer_types FROM situation WHERE establishment_id = %s AND status = 'open'",
                (ident,),
            ).fetchall()
            from_situations = compute_level(
                (tuple(t for t in row[0].split(",") if t) for row in situations), thresholds
            )
            groups: dict[str, set[str]] = defaultdict(set)
            rows = conn.execute(
                "SELECT c.code, o.code FROM report r "
                "JOIN report_condition rc ON rc.report_id = r.id "
                "JOIN condition c ON c.id = rc.condition_id "
                "JOIN report_offer_type ro ON ro.report_id = r.id "
                "JOIN offer_type o ON o.id = ro.offer_type_id "
                "WHERE r.establishment_id = %s",
                (ident,),
            ).fetchall()
            for condition, offer in rows:
                groups[condition].add(offer)
            from_scratch = compute_level((tuple(g) for g in groups.values()), thresholds)
            for name, level in (("situations", from_situations), ("scratch", from_scratch)):
                computed = (
                    level.colour,
                    level.step,
                    level.open_situations,
                    tuple(level.offer_types),
                    level.red_blocked_by_diversity,
                )
                if computed != cached:
                    raise AssertionError(f"{slug}: cached {cached} != {name} {computed}")
            found[slug] = {"colour": colour, "step": step, "open_situations": n_open}
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    name, db_url = create_database()
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    instance = Path(tempfile.mkdtemp(prefix="barometre-load-"))
    env = {
        "PATH": os.environ["PATH"],
        "BAROMETRE_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "INSTANCE_PATH": str(instance),
        "LOG_FORMAT": "json",
    }
    port = free_port()
    env["BASE_URL"] = f"http://127.0.0.1:{port}"
    gunicorn: subprocess.Popen[bytes] | None = None
    try:
        flask(env, "db", "upgrade")  # as the `migrate` service does
        flask(env, "seed")
        tokens, codes = make_tokens(env)
        gunicorn = start_gunicorn(env, port, instance / "gunicorn.log")
        results, wall = run_clients(port, tokens, codes)
        recompute = flask(env, "levels", "recompute").strip()
        with psycopg.connect(db_url) as conn:
            stored = conn.execute("SELECT count(*) FROM report").fetchone()
        levels = check_levels(db_url)
        server_errors = [s for s in results.statuses if s >= 500 or s == 0]
        figures = {
            "reports_sent": len(results.statuses),
            "reports_stored": stored[0] if stored else 0,
            "statuses": {str(s): results.statuses.count(s) for s in sorted(set(results.statuses))},
            "server_errors": len(server_errors),
            "transport_errors": results.errors[:5],
            "clients": CLIENTS,
            "gunicorn_workers": WEB_WORKERS,
            "wall_seconds": round(wall, 2),
            "throughput_per_second": round(len(results.statuses) / wall, 1),
            "latency_ms": {
                "p50": round(statistics.median(results.latencies) * 1000, 1),
                "p95": round(percentile(results.latencies, 0.95) * 1000, 1),
                "p99": round(percentile(results.latencies, 0.99) * 1000, 1),
                "max": round(max(results.latencies) * 1000, 1),
            },
            "levels": levels,
            "levels_recompute": recompute,
        }
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "load_test.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False))
        failures = []
        if figures["reports_stored"] != REPORTS:
            failures.append(f"{figures['reports_stored']} reports stored, {REPORTS} expected")
        if server_errors:
            failures.append(f"{len(server_errors)} server or transport errors")
        if results.statuses.count(201) != REPORTS:
            failures.append(f"statuses {figures['statuses']}, 201 expected for all")
        if "0 changement(s)" not in recompute:
            failures.append(f"levels recompute changed something: {recompute}")
        for failure in failures:
            print("FAIL:", failure)
        print("OK" if not failures else "FAILED")
        return 1 if failures else 0
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        redis.flushdb()
        drop_database(name)


if __name__ == "__main__":
    sys.exit(main())
