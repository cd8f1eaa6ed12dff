"""Start and stop the processes a row measures: gunicorn on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .core import ROOT, Sizes, log
from .features import children
from .load import LoadResult, Request, RequestMaker, fetch, run_load

# Same settings for the app and its baseline: only the code under test differs.
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "4"))
REDIS_URL = "redis://127.0.0.1:6379/15"
SECRET_KEY = "bench-secret-key-" + "k" * 40


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ('' if there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def app_env(database_url: str, instance: str, **extra: str) -> dict[str, str]:
    """The production shape: PostgreSQL, Redis configured, a real secret key."""
    env = {
        **os.environ,
        "BAROMETRE_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "INSTANCE_PATH": instance,
        "PUBLIC_BAROMETER": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_by_worker(self) -> dict[int, float]:
        """CPU time used so far by each worker (user + system): noise-proof cost per request."""
        ticks = os.sysconf("SC_CLK_TCK")
        found = {}
        for pid in children(self.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return found

    @staticmethod
    def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU spent between two readings; a worker missing from one counts from zero or not
        at all (never negative: a worker that went away takes its time with it)."""
        return sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in after.items())

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)


@contextmanager
def gunicorn(
    name: str,
    app_spec: str,
    env: Mapping[str, str],
    ready: Request,
    workers: int = WORKERS,
) -> Iterator[Server]:
    """gunicorn `app_spec` with sync workers on 127.0.0.1:<free port>, stopped on exit."""
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    log_path = log_dir / "gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log_path),
        "--timeout",
        "60",
        app_spec,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=dict(env))
    server = Server(name, port, process, log_path)
    try:
        wait_ready(server, ready)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, ready: Request, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
        status, _body = fetch(server.port, ready)
        if status in (200, 201):
            # Every worker imports the app lazily on its first request: warm them all.
            for _ in range(WORKERS * 4):
                fetch(server.port, ready)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout} s:\n{server.log_tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def measure(
    server: Server,
    make: RequestMaker,
    sizes: Sizes,
    label: str,
    expect: tuple[int, ...] = (200, 201),
) -> LoadResult:
    """One round of load on `server`, with the CPU its workers spent; any error stops the row."""
    cpu = server.cpu_by_worker()
    outcome = run_load(server.port, make, sizes.clients, sizes.load_seconds, expect=expect)
    outcome.cpu_seconds = server.cpu_between(cpu, server.cpu_by_worker())
    log(
        f"{label}: {outcome.rps:.0f} req/s, p95 {outcome.p(95):.1f} ms,"
        f" {outcome.cpu_ms_per_request:.1f} ms CPU/request"
    )
    if outcome.errors:
        raise RuntimeError(f"{label}: {outcome.errors} errors, first: {outcome.first_error}")
    return outcome
