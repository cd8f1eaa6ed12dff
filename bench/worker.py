"""The `celery -A alerts worker`s of the app, on a private Redis database and queue.

The rows that follow work through the alert pipeline (report → inbox, digest)
start them in the production shape of docker-compose.yml: `worker` on the
default queue (prefork, concurrency 2) and two `delivery` replicas on the delivery
queue (threads, concurrency 4 each), with the same environment as the web app or command,
on a Redis database of their own (other rows use `servers.REDIS_URL`) and a
queue named after the bench process, so nothing else takes or purges their tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from .core import ROOT, step
from .features import children, peak_rss_mb
from .servers import app_env, tail

PRIVATE_REDIS_URL = "redis://127.0.0.1:6379/13"
CONCURRENCY = 2  # as the worker of docker-compose.yml
DELIVERY_CONCURRENCY = 4  # as its delivery workers (threads) ...
DELIVERY_PROCESSES = 2  # ... of which it runs two replicas


def alerts_env(
    database_url: str, instance: str, queue: str, smtp_port: int, **extra: str
) -> dict[str, str]:
    """The app's production environment, its alerts on a private queue, mail to a sink."""
    return app_env(
        database_url,
        instance,
        REDIS_URL=PRIVATE_REDIS_URL,
        CELERY_QUEUE=queue,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_TIMEOUT="5",
        **extra,
    )


def queue_name(row: str) -> str:
    return f"bench-{row}-{os.getpid()}"


@dataclass
class AlertsWorker:
    """The two worker processes (default queue, delivery queue) and their logs."""

    processes: list[subprocess.Popen[bytes]]
    log_paths: list[Path]

    def peak_rss_mb(self) -> float:
        """Largest VmHWM of the workers and their pool processes, while they are alive."""
        peaks = []
        for process in self.processes:
            for pid in (process.pid, *children(process.pid)):
                try:
                    peaks.append(peak_rss_mb(pid))
                except OSError:
                    continue
        return max(peaks, default=0.0)

    def check_alive(self) -> None:
        if any(process.poll() is not None for process in self.processes):
            raise RuntimeError(f"celery worker exited:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(tail(path, lines) for path in self.log_paths)


def delivery_queue(queue: str) -> str:
    """`Settings.delivery_queue` of CELERY_QUEUE=queue."""
    return f"{queue}.delivery"


@contextmanager
def alerts_worker(env: Mapping[str, str], queue: str) -> Iterator[AlertsWorker]:
    """`celery -A alerts worker -Q <queue>` (prefork) and twice `-Q <queue>.delivery`
    (threads), as docker-compose.yml runs them; stopped (and their queues cleared) on exit."""
    broker = env["REDIS_URL"]
    delivery = delivery_queue(queue)
    for name in (queue, delivery):
        clear_queue(broker, name)
    folder = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    threads = ["--pool", "threads", "--concurrency", str(DELIVERY_CONCURRENCY)]
    shapes = [
        (queue, queue, ["--concurrency", str(CONCURRENCY)]),
        *[(delivery, f"{delivery}-{n}", threads) for n in range(DELIVERY_PROCESSES)],
    ]
    processes, log_paths = [], []
    for name, node, pool in shapes:
        log_path = folder / f"{node}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "alerts", "worker", "-Q", name,
            "-n", f"{node}@%h", *pool, "--loglevel", "warning",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        with log_path.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env={**env, "CELERY_QUEUE": queue},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        log_paths.append(log_path)
    try:
        yield AlertsWorker(processes, log_paths)
    finally:
        with step("stopping the celery workers"):
            for process in processes:
                stop_worker(process)
        for name in (queue, delivery):
            clear_queue(broker, name)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # warm shutdown: the pool finishes its current task
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def clear_queue(broker_url: str, queue: str) -> None:
    """Remove this queue, its delayed and unacked messages; nothing else of the database."""
    client = redis.Redis.from_url(broker_url, socket_timeout=2)
    try:
        client.delete(queue)
        for tag, payload in client.hgetall("unacked").items():
            try:
                routing = json.loads(payload)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


def queue_length(broker_url: str, queue: str) -> int:
    client = redis.Redis.from_url(broker_url, socket_timeout=2)
    try:
        return int(client.llen(queue))
    finally:
        client.close()
