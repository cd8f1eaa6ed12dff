"""Real `celery -A alerts worker` and `celery -A alerts beat` processes, as operators run them.

- A wrong setting stops either one within seconds, exit code 4, with the French
  message of `flask` and `gunicorn`, before any connection (a listener on the
  broker's address counts the connections: none).
- With good settings every line they write is one JSON object, and a task's log
  line appears exactly once.
- `/readyz` answers 200 within 10 s of a worker starting idle.
- A second beat waits for the lock, says so, and takes over when the first stops.
- A worker killed in the middle of an export: the reconciler resets the export, a
  later run finishes it; its file is deleted after EXPORT_RETENTION_HOURS.

Each test has its own Redis server (tests.ownredis): heartbeats and the beat lock
are global keys, never shared with the other tests.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time

from alerts.reconcile import reconcile
from barometre.console.exports import WORKER_LOST
from barometre.console.models import Export
from barometre.extensions import db
from barometre.heartbeat import HEARTBEAT_EVERY
from tests.conftest import file_report, login, make_user, one_line

from .conftest import SECRET, notifications
from .support import ROOT, RedisServer, SmtpServer, free_port, wait_until, worker_env

pytestmark = pytest.mark.integration

START_LIMIT = 20.0  # seconds for a refusal: Python and Celery imports on a busy 2-core machine


@pytest.fixture
def backend() -> str:
    return "postgresql"  # one database shared by this process and the worker


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def queue() -> str:
    return f"processes-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings_overrides(redis_server: RedisServer, queue: str) -> dict[str, Any]:
    return {"redis_url": redis_server.url, "celery_queue": queue}


class Program:
    """`celery -A alerts <worker|beat>` in a subprocess, stdout and stderr in one file."""

    def __init__(
        self,
        program: str,
        env: dict[str, str],
        folder: Path,
        *extra: str,
        app: str = "alerts",
        queues: str = "",
    ) -> None:
        self.log = folder / f"{program}-{uuid.uuid4().hex[:6]}.log"
        command = [sys.executable, "-m", "celery", "-A", app, program, "--loglevel", "INFO"]
        if program == "worker":
            queues = queues or env.get("CELERY_QUEUE", "barometre")
            command += ["--pool", "solo", "-Q", queues]
            command += ["-n", f"{uuid.uuid4().hex[:8]}@%h"]
        else:
            command += ["--schedule", str(folder / f"schedule-{uuid.uuid4().hex[:6]}")]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, *extra], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def entries(self) -> list[dict[str, Any]]:
        """Every line, parsed: a line that is not one JSON object fails the test."""
        found = []
        for line in self.output().splitlines():
            if line.strip():
                entry = json.loads(line)
                assert isinstance(entry, dict), line
                found.append(entry)
        return found

    def says(self, text: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exited {self.process.returncode}: {self.output()}")
        return text in self.output()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def base_env(tmp_path: Path, broker: str, database_url: str = "") -> dict[str, str]:
    env = worker_env(database_url, broker, "barometre", free_port(), tmp_path, SECRET)
    env["LOG_FORMAT"] = "json"
    if not database_url:
        env.pop("DATABASE_URL")
    return env


# --- wrong settings -------------------------------------------------------------------


@pytest.fixture
def broker_listener() -> Iterator[socket.socket]:
    """A TCP listener where the broker would be: it counts who connects."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    yield listener
    listener.close()


def connections(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


WRONG = {
    "production-without-secret-key": (
        {"BAROMETRE_ENV": "production", "SECRET_KEY": ""},
        "- SECRET_KEY: obligatoire en production (au moins 32 caractères)",
    ),
    "no-broker": (
        {"REDIS_URL": "", "CELERY_BROKER_URL": ""},
        "- REDIS_URL (ou CELERY_BROKER_URL)\xa0: obligatoire pour le worker et beat de Celery",
    ),
}


@pytest.mark.parametrize("program", ["worker", "beat"])
@pytest.mark.parametrize("case", sorted(WRONG))
def test_a_wrong_setting_stops_the_process_before_it_connects(
    program: str, case: str, tmp_path: Path, broker_listener: socket.socket
) -> None:
    changes, message = WRONG[case]
    port = broker_listener.getsockname()[1]
    env = {**base_env(tmp_path, f"redis://127.0.0.1:{port}/0"), **changes}
    started = time.monotonic()
    celery = Program(program, env, tmp_path)
    try:
        code = celery.process.wait(START_LIMIT)
    finally:
        celery.kill()
    output = celery.output()
    assert code == 4, output
    assert time.monotonic() - started < START_LIMIT
    assert message.removeprefix("- ") in refusal(output, production="BAROMETRE_ENV" in changes)
    assert "Connected to" not in output and "amqp://" not in output
    assert connections(broker_listener) == 0


def refusal(output: str, production: bool) -> str:
    """The problems a refusal names: in production one JSON line, else French text."""
    if production:
        [line] = output.splitlines()
        entry = json.loads(line)
        assert (entry["level"], entry["event"]) == ("critical", "Baromètre ne démarre pas.")
        return "\n".join(entry["problems"])
    head = "Baromètre ne démarre pas. Configuration invalide\xa0:\n- "
    assert output.startswith(head), output
    return output.removeprefix(head).strip()


@pytest.mark.parametrize("production", [False, True])
def test_the_worker_that_sends_refuses_wrong_mail_settings(
    production: bool, tmp_path: Path, broker_listener: socket.socket
) -> None:
    """Mail settings are checked by the processes that send, the workers (flask and
    gunicorn start whatever they are: tests/test_settings_validation.py)."""
    port = broker_listener.getsockname()[1]
    env = {**base_env(tmp_path, f"redis://127.0.0.1:{port}/0"), "SMTP_PORT": "abc"}
    if production:
        env.update(BAROMETRE_ENV="production", DATABASE_URL="postgresql://h/db", SMTP_PORT="")
        env.update(SMTP_HOST="")  # production without SMTP_HOST: no pretending
    celery = Program("worker", env, tmp_path, queues="barometre.delivery")
    try:
        code = celery.process.wait(START_LIMIT)
    finally:
        celery.kill()
    output = celery.output()
    assert code == 4, output
    expected = "SMTP_HOST: obligatoire en production" if production else "SMTP_PORT: nombre"
    assert refusal(output, production).startswith(expected), output
    assert connections(broker_listener) == 0


def test_flask_refuses_the_same_setting_with_the_same_message(tmp_path: Path) -> None:
    env = {**base_env(tmp_path, "redis://127.0.0.1:1/0"), "RED_THRESHOLD": "abc"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "barometre", "routes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert (
        "Baromètre ne démarre pas. Configuration invalide\xa0:\n- RED_THRESHOLD: nombre entier"
        in (result.stderr)
    )


# --- good settings: logs, heartbeats, readiness ---------------------------------------------


def readyz(client: FlaskClient) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, response.get_json()


def test_readyz_within_10_s_of_an_idle_worker_and_one_json_line_per_event(
    app: Flask,
    client: FlaskClient,
    pg_url: str,
    redis_server: RedisServer,
    queue: str,
    tmp_path: Path,
) -> None:
    env = {**base_env(tmp_path, redis_server.url, pg_url), "CELERY_QUEUE": queue}
    beat = Program("beat", env, tmp_path)
    worker: Program | None = None
    try:
        wait_until(lambda: beat.says("beat lock acquired"), 60, "beat to take its lock")
        wait_until(lambda: readyz(client)[1]["checks"]["beat"] == "ok", 30, "a beat heartbeat")
        status, body = readyz(client)
        assert (status, body["checks"]["worker"]) == (503, "missing"), body
        started = time.monotonic()
        worker = Program("worker", env, tmp_path, queues=f"{queue},{queue}.delivery")
        wait_until(lambda: readyz(client)[0] == 200, 10, "/readyz 200 after the worker started")
        assert time.monotonic() - started <= 10
        assert worker.says("ready.")  # and no task ran: the heartbeat came from the timer
        assert "succeeded" not in worker.output()

        publisher_task(app, queue)
        wait_until(lambda: worker.says("alerts.reconcile") and worker.says("succeeded"), 30, "task")
    finally:
        if worker is not None:
            assert worker.stop() == 0, worker.output()
        assert beat.stop() == 0, beat.output()
    lines = worker.entries()
    events = [e["event"] for e in lines]
    assert sum(e.startswith("reconciled: ") for e in events) == 1, events
    assert sum("alerts.reconcile[" in e and "succeeded" in e for e in events) == 1, events
    reconciled = next(e for e in lines if e["event"].startswith("reconciled: "))
    assert (reconciled["level"], reconciled["logger"]) == ("info", "alerts.tasks")
    # Celery's own lines are JSON too, at their own level; nothing printed twice.
    assert any(e["logger"] == "celery.apps.worker" and e["event"].endswith("ready.") for e in lines)
    assert any(e["event"] == "worker: Warm shutdown (MainProcess)" for e in lines)
    assert not any(e["level"] == "warning" and e["event"].startswith("{") for e in lines)
    assert len(events) == len({(e["time"], e["event"]) for e in lines})
    assert [e["event"] for e in beat.entries()][:1] == ["celery beat starting"]


class TestNoDeliveryWorker:
    """Issue 28: with the delivery worker stopped, `/readyz` names it within one heartbeat
    period and the console says the emails wait; started again, every email leaves once."""

    @pytest.fixture
    def settings_overrides(
        self, redis_server: RedisServer, queue: str, smtp_server: SmtpServer
    ) -> dict[str, Any]:
        return {
            "redis_url": redis_server.url,
            "celery_queue": queue,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "alert_group_wait": 0,
            "mail_from": "barometre@fidex.test",
        }

    def test_readyz_names_delivery_and_the_emails_wait_none_lost(
        self,
        client: FlaskClient,
        people: dict[str, Any],
        smtp: SmtpServer,
        pg_url: str,
        redis_server: RedisServer,
        queue: str,
        tmp_path: Path,
    ) -> None:
        env = {
            **base_env(tmp_path, redis_server.url, pg_url),
            "CELERY_QUEUE": queue,
            "SMTP_PORT": str(smtp.port),
        }
        programs = [Program("beat", env, tmp_path), Program("worker", env, tmp_path)]
        delivery = Program("worker", env, tmp_path, queues=f"{queue}.delivery")
        try:
            wait_until(lambda: readyz(client)[0] == 200, 60, "beat, worker and delivery ready")
            assert delivery.stop() == 0, delivery.output()
            stopped = time.monotonic()
            status, body = readyz(client)
            assert time.monotonic() - stopped < HEARTBEAT_EVERY
            # Stopped, it withdrew at once: no consumer at all, not a late one.
            assert (status, body["down"]) == (503, ["delivery"])
            assert body["checks"]["delivery"] == "missing"

            login(client, people["coordinator"])
            file_report(people["worker"], conditions=("SEC-01",))
            rows = notifications()
            assert rows and {row.state for row in rows} == {"pending"}
            home = one_line(client.get("/coordination/").get_data(as_text=True))
            assert f"Aucun processus de distribution\xa0: {len(rows)} courriels attendent" in home
            metrics = client.get("/metrics").get_data(as_text=True)
            waiting = re.search(
                rf'barometre_queue_length{{queue="{queue}.delivery"}} (\d+)', metrics
            )
            assert waiting is not None and int(waiting.group(1)) >= 1, metrics
            assert f'barometre_queue_consumers{{queue="{queue}.delivery"}} 0.0' in metrics
            assert smtp.collector.count() == 0

            programs.append(Program("worker", env, tmp_path, queues=f"{queue}.delivery"))
            wait_until(lambda: readyz(client)[0] == 200, 30, "/readyz 200 with delivery back")
            sent = wait_until(
                lambda: (rows := notifications()) and all(r.state == "sent" for r in rows) and rows,
                60,
                "every waiting email sent",
            )
        finally:
            for program in [*programs, delivery]:
                program.stop()
        received = sorted(a for r in smtp.collector.all() for a in r.recipients)
        assert received == sorted(row.recipient for row in sent)  # each once, none lost
        home = client.get("/coordination/").get_data(as_text=True)
        assert "Aucun processus de distribution" not in home


def publisher_task(app: Flask, queue: str) -> None:
    from alerts.dispatch import publisher

    publisher(app).send_task("alerts.reconcile", queue=queue, retry=False)


def test_a_second_beat_waits_for_the_lock_and_takes_over(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = base_env(tmp_path, redis_server.url)
    first = Program("beat", env, tmp_path)
    second: Program | None = None
    try:
        wait_until(lambda: first.says("beat lock acquired"), 60, "the first beat's lock")
        second = Program("beat", env, tmp_path)
        wait_until(lambda: second.says("this beat waits"), 60, "the second beat to wait")
        time.sleep(3)  # several lock retries of the second beat
        assert "beat lock acquired" not in second.output()
        holder = redis_server.client().get("barometre:beat:lock")
        assert holder is not None and f":{first.process.pid}:" in holder.decode()
        # A waiting beat stops at once on SIGTERM (docker stop, a scale-down).
        third = Program("beat", env, tmp_path)
        wait_until(lambda: third.says("this beat waits"), 60, "a third beat to wait")
        stopping = time.monotonic()
        assert third.stop() == 0 and time.monotonic() - stopping < 5, third.output()
        assert "beat stopped while waiting for the lock" in third.output()
        assert first.stop() == 0
        assert "beat lock released" in first.output()
        wait_until(lambda: second.says("beat lock acquired"), 15, "the second beat to take over")
        holder = redis_server.client().get("barometre:beat:lock")
        assert holder is not None and f":{second.process.pid}:" in holder.decode()
    finally:
        first.kill()
        if second is not None:
            second.stop()
    waiting = [e for e in second.entries() if e["event"].endswith("this beat waits")]
    # Said once per holder waited for, not at every retry (a loaded machine may let another
    # beat take the lock between two tries: a new holder is a new wait worth saying).
    holders = [e["holder"] for e in waiting]
    assert waiting and len(holders) == len(set(holders)), second.output()
    assert all(e["level"] == "warning" for e in waiting)


# --- an export whose worker dies ------------------------------------------------------------


def export_row(export_id: int) -> Export:
    db.session.rollback()
    db.session.expire_all()
    row = db.session.get(Export, export_id)
    assert row is not None
    return row


def test_a_worker_killed_mid_export_the_reconciler_resets_it_and_a_later_run_finishes_it(
    app: Flask,
    client: FlaskClient,
    pg_url: str,
    redis_server: RedisServer,
    queue: str,
    tmp_path: Path,
) -> None:
    from barometre.console import exports
    from barometre.console.filters import Filters
    from barometre.models import ROLE_COORDINATOR

    file_report(make_user())
    coordinator = make_user(ROLE_COORDINATOR)
    export_id = exports.create_export(db.session, coordinator, "reports", "csv", Filters()).id
    db.session.commit()
    env = {**base_env(tmp_path, redis_server.url, pg_url), "CELERY_QUEUE": queue}
    first = Program("worker", env, tmp_path)
    second: Program | None = None
    # The report table locked: the export claims its row, then waits at its first read.
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE report IN ACCESS EXCLUSIVE MODE")
        try:
            wait_until(lambda: first.says("ready."), 60, "the first worker")
            exports.dispatch(export_id)
            wait_until(lambda: export_row(export_id).state == "running", 30, "the export to run")
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        finally:
            blocker.rollback()
    try:
        assert export_row(export_id).state == "running"  # nobody will finish it by itself
        settings = current_app.config["SETTINGS"]
        with freeze_time(datetime.now() + timedelta(minutes=2)):
            assert reconcile(db.session, settings).exports_reset == 0  # not stuck yet
        db.session.commit()
        with freeze_time(datetime.now() + timedelta(minutes=7)):
            assert reconcile(db.session, settings).exports_reset == 1
        db.session.commit()  # hands the export over: queued, no worker yet
        row = export_row(export_id)
        assert (row.state, row.error) == ("pending", WORKER_LOST)
        from tests.conftest import login

        login(client, coordinator)
        page = client.get(f"/coordination/exports/{export_id}").get_data(as_text=True)
        assert "Relancé\xa0: le traitement précédent s'est interrompu (WorkerLostError)." in page
        second = Program("worker", env, tmp_path)
        done = wait_until(
            lambda: (r := export_row(export_id)).state == "done" and r, 60, "the second run"
        )
    finally:
        first.kill()
        if second is not None:
            second.stop()
    made = Path(done.file_path)
    assert done.row_count == 1 and made.exists(), second.output()

    # EXPORT_RETENTION_HOURS (72) later, the reconciler deletes the file.
    with freeze_time(datetime.now() + timedelta(hours=71)):
        assert reconcile(db.session, current_app.config["SETTINGS"]).export_files_deleted == 0
    with freeze_time(datetime.now() + timedelta(hours=73)):
        assert reconcile(db.session, current_app.config["SETTINGS"]).export_files_deleted == 1
    db.session.commit()
    row = export_row(export_id)
    assert row.file_path == "" and not made.exists()
    page = client.get(f"/coordination/exports/{export_id}").get_data(as_text=True)
    assert "Le fichier a été supprimé" in page
    assert client.get(f"/coordination/exports/{export_id}/fichier").status_code == 404


def test_beat_on_an_unreachable_broker_tries_again_then_refuses_in_french(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 28: beat met a Redis that does not answer with a 91-line traceback. Now a
    warning per try, waiting longer each time, then one French refusal and exit 1."""
    from alerts import process
    from barometre.heartbeat import redis_client

    waits: list[float] = []
    monkeypatch.setattr(process, "BROKER_ATTEMPTS", 4)
    monkeypatch.setattr(process.time, "sleep", waits.append)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    lock = process.BeatLock(redis_client(f"redis://127.0.0.1:{port}/0"))
    with caplog.at_level("WARNING", logger="alerts.process"), pytest.raises(SystemExit) as ended:
        lock.wait()
    assert ended.value.code == 1
    assert waits == [0.5, 1.0, 2.0]
    tries = [r for r in caplog.records if r.getMessage() == "broker unreachable: beat tries again"]
    assert len(tries) == 3
    [refusal] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert refusal.getMessage().startswith("Baromètre s'arrête\xa0: Redis (REDIS_URL) injoignable")
    assert "après 4 essais (ConnectionError)" in refusal.getMessage()
