"""Sending to a channel, with the outcomes delivery knows (`alerts.transport`).

A webhook is one POST of the JSON payload, signed as Standard Webhooks says
(`webhook-id`, `webhook-timestamp`, `webhook-signature`, by the `standardwebhooks`
library). Its `webhook-id` is derived from the notification, so every attempt of
one notification carries the same one: a receiver deduplicates on it. No redirect
is followed, at most `MAX_RESPONSE` bytes of the answer are read, within
`CONNECT_TIMEOUT` and `READ_TIMEOUT`, and `TOTAL_TIMEOUT` for the whole attempt.

- 2xx: sent;
- 408, 429, 5xx, no connection, a timeout: temporary, retried for 24 h (a timeout
  after the request went may mean the receiver has it: the retry carries the same
  `webhook-id`);
- any other answer (a 3xx, 400, 404, 410 Gone…) and a refused address: failed at once.

A chat goes through Apprise, which tells only whether it worked: a failure is
temporary, unless Apprise's own log names an HTTP 4xx answer (other than 408 and
429), which fails at once.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from standardwebhooks import Webhook
from urllib3.exceptions import HTTPError

from barometre import clock
from barometre.extensions import DbSession
from barometre.settings import Settings

from ..models import Notification
from ..transport import MAX_ERROR, PermanentFailure, TemporaryFailure
from .models import Channel, ChannelKind
from .payloads import chat_message, webhook_payload
from .targets import PrivateAddress, outgoing, scrub

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# Apprise's and urllib3's debug lines name the URL posted to (« POST /services/<token> »),
# tokens included: never in our logs.
logging.getLogger("apprise").setLevel(logging.WARNING)
logging.getLogger("urllib3").setLevel(logging.WARNING)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
# One attempt in all, its answer's headers and body included (`_within`).
TOTAL_TIMEOUT = CONNECT_TIMEOUT + 2 * READ_TIMEOUT
MAX_RESPONSE = 64 * 1024
USER_AGENT = "Barometre-Webhooks/1"
RETRIED_CODES = (408, 429)


def deliver(session: DbSession, notification: Notification, settings: Settings) -> None:
    """Send one claimed notification to its channel; raises as `Transport.send` does."""
    channel = session.get(Channel, notification.channel_id)
    if channel is None or channel.removed_at is not None:
        raise PermanentFailure("Canal supprimé\xa0: rien n'est envoyé.")
    if channel.kind == ChannelKind.WEBHOOK:
        payload = webhook_payload(session, notification, settings)
        post(channel, webhook_id(notification.id, settings), payload, settings)
    else:
        title, text = chat_message(session, notification, settings)
        notify(channel, title, text, settings)


def webhook_id(notification_id: int, settings: Settings) -> str:
    """The same `webhook-id` at every attempt of one notification (like its Message-ID)."""
    tag = hmac.new(
        settings.secret_key.encode(), f"webhook:{notification_id}".encode(), "sha256"
    ).hexdigest()[:24]
    return f"msg_{notification_id}_{tag}"


def signed_headers(secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    moment = now.replace(tzinfo=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }


def post(channel: Channel, message_id: str, payload: dict[str, Any], settings: Settings) -> int:
    """POST the payload to the webhook; its HTTP status when it is a success."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(channel.secret, message_id, body, clock.now()),
    }
    with outgoing(settings.channels_allow_private):
        response, answer = _within(
            TOTAL_TIMEOUT, channel, lambda: _exchange(channel, body, headers)
        )
    status = response.status_code
    if 200 <= status < 300:
        return status
    described = f"HTTP {status} {response.reason or ''}".strip()
    if answer:
        described += f"\xa0: {answer}"
    described = scrub(described, channel.url)[:MAX_ERROR]
    if status >= 500 or status in RETRIED_CODES:
        raise TemporaryFailure(described)
    if 300 <= status < 400:
        raise PermanentFailure(f"Redirection refusée ({described})"[:MAX_ERROR])
    raise PermanentFailure(described)


def _exchange(channel: Channel, body: str, headers: dict[str, str]) -> tuple[Any, str]:
    """One POST and the start of its answer: the response and its text (64 KiB at most)."""
    import requests

    with requests.Session() as http:
        http.trust_env = False  # no proxy from the environment: the guard sees the real host
        try:
            response = http.post(
                channel.url,
                data=body.encode(),
                headers=headers,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as error:
            raise _network_failure(error, channel.url) from error
        try:
            return response, _read_capped(response)
        except (requests.RequestException, HTTPError, OSError) as error:
            raise TemporaryFailure(_described(error, channel.url)) from error
        finally:
            response.close()


def _within(seconds: float, channel: Channel, work: Callable[[], _T]) -> _T:
    """`work()` in a thread of its own, waited for `seconds` at most.

    A read timeout bounds one read: a status line and headers trickling in byte by byte
    would hold the delivery thread for hours, and the threads pool that sends has no time
    limit. The thread runs in a copy of this context: the `outgoing` guard goes with it.
    One given up on ends with its socket's timeouts or the receiver; what it sent may
    have arrived: the retry carries the same `webhook-id`.
    """
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["value"] = context.run(work)
        except BaseException as error:  # handed to the caller, whatever it is
            outcome["error"] = error

    thread = threading.Thread(target=run, name="webhook-post", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TemporaryFailure(f"Pas de réponse complète de {channel.shown} en {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _read_capped(response: Any) -> str:
    """At most MAX_RESPONSE bytes of the answer, within READ_TIMEOUT in all (a read timeout
    bounds one read: an answer trickling in byte by byte would hold the thread for hours),
    as one short line for the log."""
    read = b""
    deadline = time.monotonic() + READ_TIMEOUT
    while len(read) < MAX_RESPONSE and time.monotonic() < deadline:
        chunk = response.raw.read1(8192, decode_content=True)
        if not chunk:
            break
        read += chunk
    text = read[:MAX_RESPONSE].decode("utf-8", errors="replace")
    return " ".join(text.split())[:200]


def _network_failure(error: BaseException, url: str) -> Exception:
    if _find_private(error) is not None:
        return PermanentFailure(_described(error, url))
    return TemporaryFailure(_described(error, url))


def _described(error: BaseException, url: str) -> str:
    """The error in one line, never with the URL's path, query or credentials."""
    private = _find_private(error)
    if private is not None:
        return str(private)[:MAX_ERROR]
    return scrub(f"{type(error).__name__}: {error}", url)[:MAX_ERROR]


def _find_private(error: BaseException | None) -> PrivateAddress | None:
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, PrivateAddress):
            return current
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        stack.extend((current.__cause__, current.__context__))
    return None


# --- chat ------------------------------------------------------------------------------

_STATUS = re.compile(r"error=(\d{3})")


def notify(channel: Channel, title: str, text: str, settings: Settings) -> None:
    """Send a chat message through Apprise."""
    import apprise

    asset = apprise.AppriseAsset(async_mode=False)
    sender = apprise.Apprise(asset=asset)
    if not sender.add(channel.url):
        raise PermanentFailure("URL Apprise refusée par Apprise.")
    with outgoing(settings.channels_allow_private) as guard:
        result = sender.notify(body=text, title=title)
    with result:
        if result:
            return
        # This call's own warnings, which Apprise keeps with its result: a capture of the
        # "apprise" logger would also catch the other threads' sends (the delivery worker
        # sends from several), one chat's 410 failing another's 503 for good.
        words = " ".join(entry.message for entry in result.logs())
    said = scrub(" ".join(words.split()), channel.url)[:MAX_ERROR]
    said = said or "Apprise\xa0: échec de l'envoi."
    if guard.refused:
        raise PermanentFailure(
            f"Adresse privée refusée\xa0: {guard.refused} (CHANNELS_ALLOW_PRIVATE)"[:MAX_ERROR]
        )
    codes = [int(code) for code in _STATUS.findall(said)]
    if codes and all(400 <= c < 500 and c not in RETRIED_CODES for c in codes):
        raise PermanentFailure(said)
    raise TemporaryFailure(said)
