"""Real parts for the alert tests: an SMTP server, an HTTP receiver, a private Redis,
Celery workers.

Everything listens on loopback on a free port; nothing touches the shared
PostgreSQL or Redis servers beyond a test database and a unique queue.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller

from tests.ownredis import RedisServer, free_port  # noqa: F401 - re-exported to the alert tests

ROOT = Path(__file__).resolve().parents[2]


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (real processes need real time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage
    raw: bytes


class Collector:
    """aiosmtpd handler: keeps accepted messages; can answer errors or hold one message."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.replies: deque[str] = deque()
        self.lock = threading.Lock()
        self.hold_for: str | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.rcpt_replies: dict[str, str] = {}
        self.drop_after_data: str | None = None
        self.drop_before_data: str | None = None
        # The SMTP sessions (one per connection) that sent DATA, kept alive so none is confused.
        self.sessions: list[Any] = []

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.replies.clear()
            self.rcpt_replies.clear()
            self.sessions.clear()
        self.hold_for = None
        self.drop_after_data = None
        self.drop_before_data = None
        self.held.clear()
        self.release.clear()

    def answer(self, *replies: str) -> None:
        """The next DATA commands get these replies instead of 250."""
        self.replies.extend(replies)

    def refuse_once(self, address: str, reply: str) -> None:
        """Answer `reply` to the next RCPT TO of `address` (the message goes to nobody)."""
        with self.lock:
            self.rcpt_replies[address.lower()] = reply

    def connections(self) -> int:
        """How many SMTP connections sent DATA since the last reset."""
        with self.lock:
            return len(self.sessions)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            reply = self.rcpt_replies.pop(address.lower(), None)
        if reply is not None:
            return reply
        if self.drop_before_data == address.lower():
            self.drop_before_data = None
            server.transport.abort()  # gone before DATA: nothing can have been stored
            return "250 OK"  # never reaches the client
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def drop_once_after_data(self, address: str) -> None:
        """Store the next message to `address`, then drop the connection before its 250."""
        self.drop_after_data = address.lower()

    def drop_once_before_data(self, address: str) -> None:
        """Drop the connection at the next RCPT TO of `address`, before any DATA."""
        self.drop_before_data = address.lower()

    def hold_once(self, address: str) -> None:
        """Store the next message to `address`, then stall before answering 250."""
        self.hold_for = address.lower()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if not any(known is session for known in self.sessions):
                self.sessions.append(session)
        if self.replies:
            return self.replies.popleft()
        content = bytes(envelope.content)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        recipients = [str(r).lower() for r in envelope.rcpt_tos]
        with self.lock:
            self.messages.append(Received(recipients, parsed, content))
        if self.drop_after_data and self.drop_after_data in recipients:
            self.drop_after_data = None
            server.transport.abort()  # stored, and the client never hears of it
            return "250 2.0.0 OK"  # never reaches the client
        if self.hold_for and self.hold_for in recipients:
            self.hold_for = None
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.messages if address.lower() in r.recipients]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.messages)


class SmtpServer:
    def __init__(self) -> None:
        self.collector = Collector()
        self.port = free_port()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.collector.release.set()
        self.controller.stop()


@dataclass(frozen=True)
class Reply:
    status: int = 204
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (a receiver slower than the read timeout).
    delay: float = 0.0
    # The body's length announced and written in chunks: a huge answer sent for real.
    size: int = 0
    # With `size`: one byte every `drip` seconds, for `drip_for` seconds at most (an
    # answer that trickles in, each byte well within the read timeout).
    drip: float = 0.0
    drip_for: float = 0.0
    # Instead of an answer: these bytes, one every `drip` seconds (a status line and
    # headers that never end, each byte well within the read timeout).
    raw: bytes = b""


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"

    @property
    def text(self) -> str:
        return self.body.decode()

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.text).items()}


class HookReceiver:
    """An HTTP server on loopback that keeps what it got: webhooks
    (`http://127.0.0.1:port/…`) and Apprise's `json://` and `form://` chats. It answers
    204, or the replies it is told in turn (a status and a body, after a delay, big or
    trickling in), can hold one request open until released, and can be down (stopped)
    and up again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.posted: list[Posted] = []
        self.replies: deque[Reply] = deque()
        # The reply when none is queued (`answer`).
        self.default = Reply()
        self.lock = threading.Lock()
        self.hold_next = False
        self.held = threading.Event()
        self.release = threading.Event()
        # Bytes of each big answer written before the client went away.
        self.written: list[int] = []
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def url(self, path: str = "hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> HookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            do_GET = do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def reset(self) -> None:
        with self.lock:
            self.posted.clear()
            self.replies.clear()
            self.written.clear()
        self.hold_next = False
        self.held.clear()
        self.release.clear()

    def answer(self, *replies: Reply | int) -> None:
        """The next requests get these replies (a bare number: that status, no body)."""
        self.replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def hold_once(self) -> None:
        """Record the next request, then answer only once `release` is set."""
        self.hold_next = True

    def count(self) -> int:
        with self.lock:
            return len(self.posted)

    def all(self, path: str | None = None) -> list[Posted]:
        with self.lock:
            return [p for p in self.posted if path is None or p.path == "/" + path.lstrip("/")]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Posted]:
        wait_until(lambda: self.count() >= count, timeout, f"{count} request(s) received")
        return self.all()

    def wait_written(self, count: int = 1, timeout: float = 20.0) -> list[int]:
        """How much of each big answer was written, once the client went away."""
        wait_until(lambda: len(self.written) >= count, timeout, "the big answers cut short")
        with self.lock:
            return list(self.written)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Posted(
            handler.path, {k.lower(): v for k, v in handler.headers.items()}, body, handler.command
        )
        with self.lock:
            self.posted.append(request)
            reply = self.replies.popleft() if self.replies else self.default
        if self.hold_next:
            self.hold_next = False
            self.held.set()
            self.release.wait(60)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.raw:
            self._write_drip(handler, reply)
            return
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("content-length", str(reply.size or len(reply.body)))
            handler.end_headers()
            if reply.drip:
                self._write_drip(handler, reply)
            elif reply.size:
                self._write_big(handler, reply.size)
            else:
                handler.wfile.write(reply.body)
        except OSError:
            handler.close_connection = True

    def _write_drip(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        end, written = time.monotonic() + reply.drip_for, 0
        content = reply.raw or b"x" * reply.size
        try:
            while written < len(content) and time.monotonic() < end:
                handler.wfile.write(content[written : written + 1])
                handler.wfile.flush()
                written += 1
                time.sleep(reply.drip)
        finally:
            handler.close_connection = True
            with self.lock:
                self.written.append(written)

    def _write_big(self, handler: BaseHTTPRequestHandler, size: int) -> None:
        # A small send buffer of our own: what is written is what the client took, give or
        # take the buffers (the kernel would otherwise grow ours to megabytes on loopback).
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        chunk, written = b"x" * 16384, 0
        try:
            while written < size:
                handler.wfile.write(chunk[: size - written])
                written += min(len(chunk), size - written)
        finally:
            with self.lock:
                self.written.append(written)


# --- privacy: what no email, webhook or chat message may hold (SPEC §4) -------------------

SECRET_TEXT = "TEXTE-CONFIDENTIEL-42 le détenu Untel"
AUTHOR_NAME = "Zéphyrin Secretnom"
AUTHOR_EMAIL = "zephyrin@confidentiel.test"
SERVICE_NAME = "Service Confidentiel Xyzzy"
SERVICE_EMAIL = "alertes@confidentiel.test"
# A coordinator's resolution note and rejection reason are theirs: never sent either.
RESOLUTION_NOTE = "NOTE-DE-RESOLUTION-PRIVEE"
REJECTION_REASON = "MOTIF-DE-REJET-PRIVE"
PRIVATE_MARKERS = (
    SECRET_TEXT,
    "TEXTE-CONFIDENTIEL",
    AUTHOR_NAME,
    "Secretnom",
    "zephyrin@",
    SERVICE_NAME,
    "Confidentiel Xyzzy",
    RESOLUTION_NOTE,
    REJECTION_REASON,
)


def assert_private(text: str, where: object) -> None:
    """`text` holds none of the markers a report, its author or service, or a coordinator
    wrote (with the tests' reports filed with them)."""
    for marker in PRIVATE_MARKERS:
        assert marker not in text, (marker, where)


class Worker:
    """`celery -A alerts worker --pool threads -Q <queue>,<queue>.delivery` as a real
    subprocess: the pool of the delivery worker of docker-compose.yml (and the bench),
    taking both queues so that one process serves a test."""

    def __init__(self, env: dict[str, str], queue: str, log_dir: Path) -> None:
        self.env = env
        self.queue = queue
        self.log = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "alerts",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "-Q",
            f"{self.queue},{delivery_queue(self.queue)}",
            "-n",
            f"{self.queue}-{uuid.uuid4().hex[:6]}@%h",
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(lambda: self._ready(), 60, f"celery worker ready (log {self.log})")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"worker exited: {self.log.read_text(errors='replace')}")
        return "ready." in self.log.read_text(errors="replace")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to ack, reject or record anything."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None


def worker_env(
    database_url: str, broker_url: str, queue: str, smtp_port: int, instance: Path, secret: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=broker_url,
        CELERY_QUEUE=queue,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_TIMEOUT="5",
        SECRET_KEY=secret,
        INSTANCE_PATH=str(instance),
        MAIL_FROM="barometre@fidex.test",
        PYTHONUNBUFFERED="1",
    )
    return env


def clear_queue(broker_url: str, queue: str) -> None:
    """Remove this test's queue, its delivery queue and their unacked messages from a
    shared Redis database."""
    import json

    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=2)
    try:
        client.delete(queue, delivery_queue(queue))
        for tag, payload in client.hgetall("unacked").items():
            try:
                routing = json.loads(payload)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing in (queue, delivery_queue(queue)):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


def queue_length(broker_url: str, queue: str) -> int:
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=2)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def delivery_queue(queue: str) -> str:
    """The delivery queue beside `queue` (`Settings.delivery_queue`)."""
    return f"{queue}.delivery"


def queued(broker_url: str, queue: str) -> int:
    """Tasks waiting in `queue` and in its delivery queue."""
    return queue_length(broker_url, queue) + queue_length(broker_url, delivery_queue(queue))
