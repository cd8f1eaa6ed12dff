"""Which channel URLs are accepted, how they are shown, and where requests may go.

An http(s) URL is a webhook; any other URL Apprise knows is a chat. Every request a
channel makes (the webhook's POST, whatever Apprise's plugin opens) resolves its
host inside `outgoing`, which keeps only global addresses: loopback, link-local
(169.254.169.254, the cloud metadata), private, shared and reserved ones are refused
at connection time, after the name is resolved, so a name that resolves to one later
is refused too. `CHANNELS_ALLOW_PRIVATE=1` lifts this (the tests' local receivers).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _

from barometre.text import printable

from .models import ChannelKind

MAX_URL = 2000
WEB_SCHEMES = ("http", "https")


class ChannelRefused(ValueError):
    """A URL that cannot be a channel; the reason in words, for the form or the CLI."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PrivateAddress(OSError):
    """A channel's request would reach an address that is not global."""


def kind_of(url: str) -> str:
    """An http(s) URL is a webhook; any other, an Apprise chat URL."""
    return ChannelKind.WEBHOOK if urlsplit(url).scheme.lower() in WEB_SCHEMES else ChannelKind.CHAT


def check_url(url: str, kind: str, allow_private: bool) -> str:
    """The URL as it is stored, or ChannelRefused with the reason (in the current locale)."""
    url = url.strip()
    if not url:
        raise ChannelRefused(_("Indiquez l'URL du canal."))
    if len(url) > MAX_URL:
        raise ChannelRefused(_("URL trop longue (%(max)d caractères au plus).", max=MAX_URL))
    if not printable(url, multiline=False) or any(c.isspace() for c in url):
        raise ChannelRefused(_("L'URL contient des espaces ou des caractères de contrôle."))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if kind == ChannelKind.WEBHOOK:
        if scheme not in WEB_SCHEMES:
            raise ChannelRefused(_("Un webhook est une URL http:// ou https://."))
        try:
            host, _port = parts.hostname, parts.port
        except ValueError:
            host = None
        if not host:
            raise ChannelRefused(_("URL sans nom d'hôte valide."))
    elif kind == ChannelKind.CHAT:
        if scheme in WEB_SCHEMES:
            raise ChannelRefused(
                _("Une URL http:// ou https:// est un webhook ; une messagerie a une URL Apprise.")
            )
        plugin = chat_plugin(url)
        if plugin is None:
            raise ChannelRefused(
                _(
                    "URL Apprise non reconnue (par exemple signal://, tgram://, matrix://, workflows://)."
                )
            )
        host = _network_host(parts, plugin)
    else:
        raise ChannelRefused(_("Type de canal inconnu."))
    if host and not allow_private:
        refused = private_address(host)
        if refused:
            raise ChannelRefused(
                _(
                    "Adresse privée refusée (%(address)s) : un canal ne peut viser le "
                    "réseau du serveur (CHANNELS_ALLOW_PRIVATE=1 l'autorise).",
                    address=refused,
                )
            )
    return url


def _network_host(parts: Any, plugin: Any = None) -> str | None:
    """A chat URL's host, when it names one: always for a plugin whose every URL form has
    a host (json://, form://, mmost://, signal://…: json://2130706433/ is 127.0.0.1);
    otherwise when it looks like one (an address, or a name with a dot), since Apprise
    puts tokens where a URL has its host for some services (tgram://<bot token>/…)."""
    try:
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    templates = getattr(plugin, "templates", ()) or ()
    if templates and all("{host}" in template for template in templates):
        return str(host)
    if host == "localhost" or "." in host or ":" in host:
        return str(host)
    return None


def chat_plugin(url: str) -> Any:
    """Apprise's plugin for the URL, None when Apprise knows no such URL."""
    import apprise

    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:
        return None


def shown(url: str, kind: str) -> str:
    """The URL as pages show it once saved: a webhook's scheme, host and port with its path
    cut short; a chat as Apprise masks it, without its options."""
    if kind == ChannelKind.WEBHOOK:
        parts = urlsplit(url)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        path = "/…" if parts.path.strip("/") or parts.query else "/"
        return f"{parts.scheme.lower()}://{parts.hostname}{port}{path}"[:200]
    plugin = chat_plugin(url)
    masked = urlsplit(str(plugin.url(privacy=True)) if plugin is not None else url)
    rest = "/…" if masked.path.strip("/") else ""
    return f"{masked.scheme}://{masked.netloc}{rest}"[:200]


def scrub(text: str, url: str) -> str:
    """`text` (an error, what Apprise logged) without the URL's secret parts: its path,
    query and credentials, which often are the token. The host stays: it says where."""
    parts = urlsplit(url)
    secrets = [parts.path.rstrip("/"), parts.query, parts.password or "", parts.username or ""]
    if parts.scheme.lower() not in WEB_SCHEMES and _network_host(parts) is None:
        secrets.append(parts.netloc)  # tgram://<bot token>/…: the token is where a host is
    secrets += [s.strip("/") for s in secrets]
    for secret in sorted({s for s in secrets if len(s) > 1}, key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


# --- where requests may go ---------------------------------------------------------------


def is_global(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def private_address(host: str) -> str | None:
    """The first address of `host` that is not global (an address, or what the name
    resolves to); None when every one is global or the name does not resolve now."""
    try:
        return None if is_global(host) else host
    except ValueError:
        pass  # a name
    try:
        found = _real_getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except OSError:
        return None  # unknown today: the guard decides at send time
    for *_rest, sockaddr in found:
        if not is_global(str(sockaddr[0])):
            return str(sockaddr[0])
    return None


_real_getaddrinfo = socket.getaddrinfo
_installed = threading.Lock()


@dataclass
class Guard:
    """The rule of one `outgoing` block; `refused` names an address it refused."""

    allow_private: bool
    refused: str = ""


# A context variable, not a thread-local: Apprise runs a plugin in a worker thread of its
# own with a copy of the caller's context (`apprise.apprise.submit_with_context`), and the
# guard must go there too. A block's guard is never switched off, only unset: a plugin
# thread Apprise stopped waiting for keeps its guard while it runs on.
_guard: ContextVar[Guard | None] = ContextVar("channels_outgoing_guard", default=None)


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    found = _real_getaddrinfo(host, port, *args, **kwargs)
    guard = _guard.get()
    if guard is None or guard.allow_private:
        return found
    kept = [entry for entry in found if is_global(str(entry[4][0]))]
    if not kept:
        refused = str(found[0][4][0]) if found else str(host)
        guard.refused = refused
        raise PrivateAddress(f"Adresse privée refusée\xa0: {refused} (CHANNELS_ALLOW_PRIVATE)")
    return kept


@contextmanager
def outgoing(allow_private: bool) -> Iterator[Guard]:
    """Within (in this context, and the threads that run a copy of it): name resolutions
    keep only global addresses, unless `allow_private`; `.refused` names a refused one."""
    with _installed:
        if socket.getaddrinfo is not _guarded_getaddrinfo:
            socket.getaddrinfo = _guarded_getaddrinfo
    guard = Guard(allow_private)
    token = _guard.set(guard)
    try:
        yield guard
    finally:
        _guard.reset(token)
