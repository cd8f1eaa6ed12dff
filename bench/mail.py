"""A real SMTP server (aiosmtpd) that records when each message arrives, and a paced sender.

For the rows that follow a report to the inbox: what counts is the time from
the moment work is handed over to the moment the SMTP server holds the message,
and that every expected message arrives exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller

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
    port: int
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content)
        arrival = Arrival(
            time.time(),
            str(message.get("Message-ID", "")),
            str(message.get(BENCH_HEADER, "")),
            tuple(envelope.rcpt_tos),
            str(message.get("Subject", "")),
        )
        with self.lock:
            self.arrivals.append(arrival)
        return "250 OK"

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(Message-ID, recipient) pairs received more than once."""
        seen = Counter((a.message_id, r) for a in self.arrivals for r in a.recipients)
        return {key: n for key, n in seen.items() if n > 1}


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    # aiosmtpd logs every SMTP command at INFO: thousands of lines once the app set up logging.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = SmtpSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
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
