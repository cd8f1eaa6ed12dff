"""Smoke tests only: an SMTP sink with the part of Mailpit's API the smoke script reads.

SMTP on :1025 keeps every message in memory; HTTP on :8025 answers
`GET /api/v1/messages` ({"total": n, "messages": [{"Subject", "To", "From"}]})
and `GET /readyz`. `python3 mailsink.py check` is the container's health check.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from email import message_from_bytes, policy
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MESSAGES: list[dict[str, Any]] = []
LOCK = threading.Lock()


class Handler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        entry = {
            "Subject": str(parsed.get("Subject", "")),
            "From": {"Address": envelope.mail_from},
            "To": [{"Address": address} for address in envelope.rcpt_tos],
            "Headers": {"To": [a for _, a in getaddresses([str(parsed.get("To", ""))])]},
        }
        with LOCK:
            MESSAGES.insert(0, entry)  # newest first, as Mailpit lists them
        print(json.dumps({"event": "mail received", "subject": entry["Subject"]}), flush=True)
        return "250 2.0.0 OK"


class Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/readyz"):
            self.answer(200, {"status": "ok"})
        elif self.path.startswith("/api/v1/messages"):
            with LOCK:
                self.answer(200, {"total": len(MESSAGES), "messages": list(MESSAGES)})
        else:
            self.answer(404, {"error": "not found"})

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        return


def main() -> int:
    if sys.argv[1:] == ["check"]:
        with urllib.request.urlopen("http://127.0.0.1:8025/readyz", timeout=3) as response:
            return 0 if response.status == 200 else 1
    from aiosmtpd.controller import Controller

    controller = Controller(Handler(), hostname="0.0.0.0", port=1025)  # noqa: S104 - container
    controller.start()
    print(json.dumps({"event": "mail sink ready", "smtp": 1025, "http": 8025}), flush=True)
    server = ThreadingHTTPServer(("0.0.0.0", 8025), Api)  # noqa: S104 - container
    try:
        server.serve_forever()
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
