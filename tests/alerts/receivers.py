"""A real HTTP receiver for the channel tests (issue 30): a local server in a thread.

It records every request (method, path, headers, body) and answers as told: a status
and a body, after a delay, or holds the request open until released. A webhook's
receiver and Apprise's `json://` and `form://` targets post to it alike.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from .support import free_port, wait_until


@dataclass(frozen=True)
class Reply:
    status: int = 200
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


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.text).items()}


class HttpReceiver:
    """`ThreadingHTTPServer` on 127.0.0.1: records requests, answers the scripted replies
    in turn (then 200), can hold one request open, and can be down (stopped) and up again
    on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Request] = []
        self.replies: deque[Reply] = deque()
        self.lock = threading.Lock()
        self.hold_next = False
        self.held = threading.Event()
        self.release = threading.Event()
        # Bytes of each big answer written before the client went away.
        self.written: list[int] = []
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpReceiver:
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
            self.requests.clear()
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
            return len(self.requests)

    def all(self) -> list[Request]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Request]:
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
        request = Request(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self.lock:
            self.requests.append(request)
            reply = self.replies.popleft() if self.replies else Reply()
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
