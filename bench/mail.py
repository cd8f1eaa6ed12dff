"""A real SMTP server (aiosmtpd) that records when each message arrives, and a paced sender.

For the rows that follow a report to the inbox: what counts is the time from
the moment work is handed over to the moment the SMTP server holds the message,
and that every expected message arrives exactly once.

The server runs in a process of its own (`python -m bench.mail PORT FILE`) and
appends one JSON line per message to a file: in the bench's own process it
would share one interpreter lock with the load generators, answer slowly, and
the workers' SMTP waits would measure the bench instead of the app.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from .core import ROOT
from .servers import free_port

BENCH_HEADER = "X-Bench-Id"


@dataclass(frozen=True)
class Arrival:
    at: float  # time.time(): comparable across processes
    message_id: str
    bench_id: str
    recipients: tuple[str, ...]
    subject: str


@dataclass
class SmtpSink:
    """The arrivals the sink process recorded, read as they come."""

    port: int
    path: Path
    seen: list[Arrival] = field(default_factory=list)
    offset: int = 0

    @property
    def arrivals(self) -> list[Arrival]:
        """Every arrival so far (`.clear()` forgets those, later ones still come)."""
        if not self.path.exists():  # the sink has stopped: all were read then
            return self.seen
        with self.path.open("rb") as lines:
            lines.seek(self.offset)
            for line in lines:
                if not line.endswith(b"\n"):
                    break  # being written: read it next time
                self.offset += len(line)
                at, message_id, bench_id, recipients, subject = json.loads(line)
                self.seen.append(Arrival(at, message_id, bench_id, tuple(recipients), subject))
        return self.seen

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(Message-ID, recipient) pairs received more than once."""
        seen = Counter((a.message_id, r) for a in self.arrivals for r in a.recipients)
        return {key: n for key, n in seen.items() if n > 1}


class Recorder:
    """The aiosmtpd handler of the sink process: headers only, one line per message."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
        line = [
            time.time(),
            str(message.get("Message-ID", "")),
            str(message.get(BENCH_HEADER, "")),
            list(envelope.rcpt_tos),
            str(message.get("Subject", "")),
        ]
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    path = Path(tempfile.mkstemp(prefix="bench-smtp-", suffix=".jsonl")[1])
    sink = SmtpSink(free_port(), path)
    command = [sys.executable, "-m", "bench.mail", str(sink.port), str(path)]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        wait_listening(sink.port, process)
        yield sink
    finally:
        process.terminate()
        process.wait(timeout=10)
        sink.arrivals  # noqa: B018 - read what is left before the file goes
        path.unlink(missing_ok=True)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the SMTP sink exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the SMTP sink is not listening after {timeout} s")


def serve(port: int, path: str) -> None:
    from aiosmtpd.controller import Controller

    # aiosmtpd logs every SMTP command at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(Recorder(path), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def paced(rate: float, seconds: float, send: Callable[[int], None]) -> list[float]:
    """Call `send(n)` `rate` times a second for `seconds` (open loop); returns send times.

    Open loop: a slow consumer does not slow the sender down, as with real workers.
    """
    started = time.time()
    times = []
    for n in range(int(rate * seconds)):
        due = started + n / rate
        time.sleep(max(0.0, due - time.time()))
        times.append(time.time())
        send(n)
    return times


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
