"""Who is asking, for the throttles that count per client.

The client is the network address the request came from (`request.remote_addr`:
the socket's peer, or the address a trusted proxy reports when TRUSTED_PROXIES
is set; X-Forwarded-For is ignored otherwise, see `security`). An IPv6 client
usually holds a whole /64 and picks any address in it at will, so a client is
its /64; an IPv4 client (also when seen as `::ffff:a.b.c.d`) is its address.
"""

from __future__ import annotations

import ipaddress

IPV6_PREFIX = 64


def client_network(remote: str | None) -> str:
    """The key of the client at `remote`; anything that is not an address is kept as is."""
    try:
        found = ipaddress.ip_address((remote or "unknown").split("%")[0])
    except ValueError:
        return remote or "unknown"
    if isinstance(found, ipaddress.IPv6Address):
        if found.ipv4_mapped is not None:
            return str(found.ipv4_mapped)
        return str(ipaddress.IPv6Network((found, IPV6_PREFIX), strict=False))
    return str(found)
