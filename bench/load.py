"""A small closed-loop load generator: N client threads on loopback, bounded in time and count.

Each client sends a request, waits for the answer, and sends the next one, like
N workers tapping "Envoyer" without pause. Threads spend their time waiting on
sockets, so the GIL costs little next to the server's work; the same generator
drives the app and its baseline, so its own cost cancels out in the ratio.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .core import percentile

HOST = "127.0.0.1"
MAX_REQUESTS = 500_000  # a hard bound whatever the duration


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, measured window only
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    first_error: str = ""
    cpu_seconds: float = 0.0  # of the server's workers, over the whole run

    @property
    def cpu_ms_per_request(self) -> float:
        served = sum(self.statuses.values())
        return self.cpu_seconds / served * 1000 if served else 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        """Percentile latency in milliseconds."""
        return percentile(self.latencies, q) * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p(50), 2),
            "p95_ms": round(self.p(95), 2),
            "p99_ms": round(self.p(99), 2),
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "server_cpu_ms_per_request": round(self.cpu_ms_per_request, 2),
        }


RequestMaker = Callable[[int, int], Request]


def merged(runs: Sequence[LoadResult]) -> LoadResult:
    """Several runs of one side as one: all latencies, summed durations and CPU."""
    total = LoadResult(runs[0].clients, sum(r.seconds for r in runs))
    for r in runs:
        total.latencies.extend(r.latencies)
        total.statuses.update(r.statuses)
        total.errors += r.errors
        total.cpu_seconds += r.cpu_seconds
    return total


def run_load(
    port: int,
    make_request: RequestMaker,
    clients: int,
    seconds: float,
    warmup: float = 0.25,
    expect: tuple[int, ...] = (200, 201),
) -> LoadResult:
    """Drive `clients` closed-loop clients for `warmup + seconds`; measure the last `seconds`.

    `make_request(client, n)` builds the n-th request of a client. A status not in
    `expect` counts as an error (the first body is kept for the report).
    """
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    result = LoadResult(clients, seconds)
    lock = threading.Lock()
    budget = iter(range(MAX_REQUESTS))

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies: list[float] = []
        n = 0
        try:
            while (now := time.perf_counter()) < stop_at and next(budget, None) is not None:
                request = make_request(index, n)
                n += 1
                status, body = _send(conn, request)
                done = time.perf_counter()
                with lock:
                    result.statuses[status] += 1
                    if status not in expect:
                        result.errors += 1
                        result.first_error = result.first_error or f"{status} {body[:300]!r}"
                if now >= measure_from and done <= stop_at:
                    latencies.append(done - now)
        finally:
            conn.close()
            with lock:
                result.latencies.extend(latencies)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=warmup + seconds + 60)
    return result


def _send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, bytes]:
    try:
        conn.request(request.method, request.path, body=request.body, headers=request.headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        conn.close()
        return 0, repr(error).encode()


def fetch(port: int, request: Request) -> tuple[int, bytes]:
    """One request, for checks before and after a load."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        return _send(conn, request)
    finally:
        conn.close()
