"""/healthz, /readyz (database, broker, each queue's consumers, beat, mail) and /metrics.

"Redis down" and "Redis frozen" use a redis-server of the test's own
(tests/ownredis.py), never the shared one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import Column, Integer, String, Table, insert

from barometre import create_app
from barometre.extensions import db
from barometre.heartbeat import (
    BEAT_HEARTBEAT_KEY,
    Consumers,
    consumers_key,
    drop_consumer,
    queue_consumers,
    record_beat,
    record_consumer,
)
from barometre.metrics import record_task_latency
from barometre.models import User
from tests.conftest import bearer, file_report, login, make_settings
from tests.ownredis import OwnRedis, free_port, own_redis

METRICS_TOKEN = "m" * 32


def test_healthz_is_public_and_cheap(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_in_the_embedded_mode(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "broker": "embedded",
            "worker": "embedded",
            "delivery": "embedded",
            "beat": "embedded",
            "mail": "ok",
        },
        "down": [],
    }
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def redis_server() -> Iterator[OwnRedis]:
    with own_redis() as server:
        yield server


@pytest.fixture
def redis_app(tmp_path: Path, redis_server: OwnRedis) -> Iterator[Flask]:
    application = create_app(make_settings(tmp_path, redis_url=redis_server.url))
    with application.app_context():
        db.create_all()
        yield application
        db.session.remove()
        db.engine.dispose()


def readyz(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_json()


QUEUES = ["barometre", "barometre.delivery"]


def all_beat(client: Any) -> None:
    record_consumer(client, "worker@one", "one", QUEUES)
    record_beat(client, "beat-host")


def test_readyz_needs_a_consumer_of_each_queue_and_a_beat(
    redis_app: Flask, redis_server: OwnRedis
) -> None:
    status, body = readyz(redis_app)
    assert status == 503
    checks = {
        "database": "ok",
        "broker": "ok",
        "worker": "missing",
        "delivery": "missing",
        "beat": "missing",
        "mail": "ok",
    }
    assert body["checks"] == checks
    assert body["down"] == ["worker", "delivery", "beat"]
    # The default queue's worker beats: the deliveries still have nobody.
    record_consumer(redis_server.client(), "worker@one", "one", ["barometre"])
    status, body = readyz(redis_app)
    assert (status, body["checks"]["worker"], body["down"]) == (503, "ok", ["delivery", "beat"])
    record_consumer(redis_server.client(), "delivery@two", "two", ["barometre.delivery"])
    record_beat(redis_server.client(), "beat-host")
    status, body = readyz(redis_app)
    assert status == 200 and body["checks"]["beat"] == "ok"
    # The delivery process stops: withdrawn at once, named at once.
    drop_consumer(redis_server.client(), "delivery@two", ["barometre.delivery"])
    status, body = readyz(redis_app)
    assert (status, body["checks"]["delivery"], body["down"]) == (503, "missing", ["delivery"])


def test_a_consumer_three_beats_late_is_gone_a_beat_after_five_minutes(
    redis_app: Flask, redis_server: OwnRedis
) -> None:
    with freeze_time("2026-03-02 08:00:00"):
        all_beat(redis_server.client())
    with freeze_time("2026-03-02 08:00:45"):
        assert readyz(redis_app)[0] == 200
    with freeze_time("2026-03-02 08:00:46"):
        status, body = readyz(redis_app)
    assert (status, body["checks"]["worker"], body["checks"]["delivery"]) == (503, "stale", "stale")
    assert body["checks"]["beat"] == "ok"
    with freeze_time("2026-03-02 08:05:01"):
        status, body = readyz(redis_app)
    assert body["down"] == ["worker", "delivery", "beat"]
    assert body["checks"]["beat"] == "stale"


def test_a_queue_a_worker_stops_taking_is_withdrawn(redis_server: OwnRedis) -> None:
    client = redis_server.client()
    record_consumer(client, "w@h", "h", QUEUES)
    record_consumer(client, "w@h", "h", ["barometre"], left=["barometre.delivery"])
    assert queue_consumers(client, "barometre").live == 1
    assert queue_consumers(client, "barometre.delivery") == Consumers(0, 0, None)


def test_each_container_checks_its_own_heartbeat(
    redis_server: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m barometre.heartbeat beat` reads this host's beat heartbeat, not a sibling's."""
    import socket

    from barometre import heartbeat as health

    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.delenv("BAROMETRE_ENV", raising=False)
    monkeypatch.setattr(socket, "gethostname", lambda: "this-beat")
    record_beat(redis_server.client(), "another-beat")
    record_consumer(redis_server.client(), "w@another-worker", "another-worker", QUEUES)
    assert health.main(["beat"]) == 1  # a beat that waits for the lock never beats
    assert health.main(["worker"]) == 1
    record_beat(redis_server.client(), "this-beat")
    assert health.main(["beat"]) == 0
    with freeze_time(datetime.now(UTC) + timedelta(minutes=6)):
        assert health.main(["beat"]) == 1
    assert health.main(["nothing"]) == 2


def test_a_garbled_heartbeat_counts_as_missing(redis_app: Flask, redis_server: OwnRedis) -> None:
    redis_server.client().set(BEAT_HEARTBEAT_KEY, "pas un nombre")
    redis_server.client().hset(consumers_key("barometre"), "w@h", "pas un nombre")
    checks = readyz(redis_app)[1]["checks"]
    assert (checks["beat"], checks["worker"]) == ("missing", "missing")
    assert redis_server.client().hlen(consumers_key("barometre")) == 0  # cleared on the way


def test_redis_down_is_named_and_answered_fast(redis_app: Flask, redis_server: OwnRedis) -> None:
    all_beat(redis_server.client())
    assert readyz(redis_app)[0] == 200
    redis_server.kill()
    started = time.monotonic()
    status, body = readyz(redis_app)
    assert time.monotonic() - started < 3
    assert status == 503
    assert body["checks"] == {
        "database": "ok",
        "broker": "down",
        "worker": "unchecked",
        "delivery": "unchecked",
        "beat": "unchecked",
        "mail": "ok",
    }
    assert body["down"] == ["broker"]


def test_a_wrong_ca_file_lets_the_site_serve_and_readyz_names_it(
    tmp_path: Path, redis_server: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 28: a mail setting never takes the web site down; /readyz says what is wrong."""
    missing = tmp_path / "absent-ca.pem"
    settings = make_settings(
        tmp_path,
        redis_url=redis_server.url,
        smtp_host="smtp.example.org",
        smtp_starttls=True,
        smtp_ca_file=str(missing),
    )
    with caplog.at_level("WARNING"):
        application = create_app(settings)
    assert any("SMTP_CA_FILE" in r.getMessage() for r in caplog.records)
    with application.app_context():
        db.create_all()
        all_beat(redis_server.client())
        client = application.test_client()
        assert client.get("/healthz").status_code == 200
        assert client.get("/connexion").status_code == 200
        status, body = readyz(application)
        db.engine.dispose()
    assert (status, body["down"], body["checks"]["mail"]) == (503, ["mail"], "down")
    assert body["mail"].startswith("courriel mal configuré\xa0: SMTP_CA_FILE: fichier introuvable")
    assert str(missing) not in body["mail"]


def test_a_frozen_redis_does_not_hang_the_probe(redis_app: Flask, redis_server: OwnRedis) -> None:
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, body = readyz(redis_app)
        elapsed = time.monotonic() - started
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    assert status == 503 and body["checks"]["broker"] == "down"
    assert elapsed < 3  # 1 s socket timeout, not the kernel's minutes


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_database_down_is_named(tmp_path: Path, backend: str) -> None:
    if backend == "postgresql":
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/barometre"
    else:
        url = f"sqlite:///{tmp_path}/missing/folder/barometre.db"
    application = create_app(make_settings(tmp_path, url))
    with application.app_context():
        status, body = readyz(application)
    assert status == 503
    assert body["checks"]["database"] == "down" and body["down"] == ["database"]
    assert "127.0.0.1" not in str(body) and "postgres" not in str(body)


def test_database_and_redis_down_together(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/barometre"
    application = create_app(
        make_settings(tmp_path, url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    with application.app_context():
        status, body = readyz(application)
    assert status == 503 and body["down"] == ["database", "broker"]


# --- metrics ----------------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_token": METRICS_TOKEN}


def test_metrics_are_for_coordinators_or_the_scraper(
    client: FlaskClient, worker: User, coordinator: User
) -> None:
    assert client.get("/metrics").status_code == 401
    # A user's API token is a credential on /api/ only (issue 11, item 7).
    assert client.get("/metrics", headers=bearer(worker)).status_code == 401
    assert client.get("/metrics", headers=bearer(coordinator)).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 32}
    assert client.get("/metrics", headers=wrong).status_code == 401
    scraper = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraper.status_code == 200
    assert scraper.headers["Content-Type"].startswith("text/plain")
    login(client, coordinator)
    assert client.get("/metrics").status_code == 200


class TestWithoutMetricsToken:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": ""}

    def test_an_empty_token_opens_nothing(self, client: FlaskClient) -> None:
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
        assert client.get("/metrics").status_code == 401


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_metrics_count_reports_levels_and_changes(client: FlaskClient, worker: User) -> None:
    file_report(worker, conditions=("SEC-01", "ACC-01"))
    file_report(worker, establishment="saint-gilles", description="Attente de deux heures.")
    text = scrape(client)
    assert 'barometre_reports_total{establishment="haren",review_state="unreviewed"} 1.0' in text
    assert (
        'barometre_reports_total{establishment="saint-gilles",review_state="unreviewed"} 1.0'
        in (text)
    )
    assert 'barometre_establishment_level{establishment="haren"} 2.0' in text
    assert 'barometre_open_situations{establishment="haren"} 2.0' in text
    assert 'barometre_level_changes_total{establishment="haren",to_colour="orange"} 1.0' in text
    assert "barometre_report_descriptions_purged 0.0" in text
    assert "Attente de deux heures" not in text and worker.email not in text


def test_task_latency_hook_in_process(client: FlaskClient) -> None:
    task = f"test.inprocess.{uuid.uuid4().hex[:8]}"  # the in-process store outlives the app
    record_task_latency(task, 0.3)
    record_task_latency(task, 7.0)
    text = scrape(client)
    assert f'barometre_task_latency_seconds_bucket{{le="0.25",task="{task}"}} 0.0' in text
    assert f'barometre_task_latency_seconds_bucket{{le="0.5",task="{task}"}} 1.0' in text
    assert f'barometre_task_latency_seconds_bucket{{le="+Inf",task="{task}"}} 2.0' in text
    assert f'barometre_task_latency_seconds_count{{task="{task}"}} 2.0' in text
    assert f'barometre_task_latency_seconds_sum{{task="{task}"}} 7.3' in text


def test_worker_latencies_and_heartbeat_come_through_redis(
    tmp_path: Path, redis_server: OwnRedis
) -> None:
    settings = make_settings(tmp_path, redis_url=redis_server.url, metrics_token=METRICS_TOKEN)
    application = create_app(settings)
    with application.app_context():
        db.create_all()
        worker_side = redis_server.client()  # what the Celery worker process would hold
        record_task_latency("alerts.send_notification", 0.08, worker_side)
        record_consumer(worker_side, "w@h", "h", ["barometre.delivery"])
        text = scrape(application.test_client())
        db.engine.dispose()
    bucket = 'barometre_task_latency_seconds_bucket{le="0.1",task="alerts.send_notification"} 1.0'
    assert bucket in text
    assert 'barometre_queue_consumers{queue="barometre.delivery"} 1.0' in text
    assert 'barometre_queue_consumers{queue="barometre"} 0.0' in text
    assert 'barometre_queue_length{queue="barometre"} 0.0' in text


def test_each_queue_says_its_length_and_its_oldest_tasks_age(
    tmp_path: Path, redis_server: OwnRedis
) -> None:
    """Every published task carries its publication time: the oldest waiting one's age."""
    from alerts.dispatch import publisher

    settings = make_settings(tmp_path, redis_url=redis_server.url, metrics_token=METRICS_TOKEN)
    application = create_app(settings)
    with application.app_context():
        db.create_all()
        with freeze_time("2026-03-02 08:00:00"):
            publisher(application).send_task("alerts.reconcile", queue="barometre")
        with freeze_time("2026-03-02 08:01:30"):
            publisher(application).send_task("alerts.reconcile", queue="barometre")
        with freeze_time("2026-03-02 08:02:00"):
            text = scrape(application.test_client())
        db.engine.dispose()
    assert 'barometre_queue_length{queue="barometre"} 2.0' in text
    assert 'barometre_queue_oldest_age_seconds{queue="barometre"} 120.0' in text
    assert 'barometre_queue_length{queue="barometre.delivery"} 0.0' in text
    assert 'barometre_queue_oldest_age_seconds{queue="barometre.delivery"} 0.0' in text


@pytest.mark.committing
def test_notifications_by_state_when_the_table_exists(client: FlaskClient) -> None:
    table = Table(
        "test_notification",
        db.metadata,
        Column("id", Integer, primary_key=True),
        Column("state", String(12)),
    )
    try:
        table.create(db.engine)
        db.session.execute(
            insert(table), [{"state": "sent"}, {"state": "sent"}, {"state": "failed"}]
        )
        db.session.commit()
        text = scrape(client)
    finally:
        db.session.rollback()
        table.drop(db.engine)
        db.metadata.remove(table)
    assert 'barometre_notifications{state="sent",table="test_notification"} 2.0' in text
    assert 'barometre_notifications{state="failed",table="test_notification"} 1.0' in text


def test_worker_container_health_check(tmp_path: Path, redis_server: OwnRedis) -> None:
    """`python -m barometre.heartbeat worker`, the worker's health check in docker-compose.yml."""
    import socket

    def check() -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ["PATH"],
            "INSTANCE_PATH": str(tmp_path),
            "REDIS_URL": redis_server.url,
        }
        return subprocess.run(
            [sys.executable, "-m", "barometre.heartbeat", "worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert check().returncode == 1
    record_consumer(redis_server.client(), "w@elsewhere", "elsewhere", QUEUES)
    assert check().returncode == 1  # another worker's beat: not this container's
    record_consumer(redis_server.client(), "w@here", socket.gethostname(), QUEUES)
    alive = check()
    assert alive.returncode == 0 and "worker alive" in alive.stdout
    redis_server.kill()
    assert check().returncode == 1
