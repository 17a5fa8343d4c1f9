"""No adapter connects to loopback, link-local, private or otherwise internal addresses unless told
to: WARNCAST_ALLOW_PRIVATE_NETWORKS=1 allows them all (the simulators, tests and demo set it), or a
list of networks allows just those (e.g. ``10.20.0.0/16,fd00:1::/64`` for an SMSC on a private link).

The check runs on the address actually connected to, after name resolution, so a name that
resolves to a public address when an endpoint is registered and to 169.254.169.254 at send time
(DNS rebinding) is still refused. Every adapter builds its HTTP client through this module:

    aiohttp   connector()         a TCPConnector whose resolved addresses are checked
    sockets   resolve()           checked addresses to connect to (the HTTP/2 client for APNs)
              open_connection()   asyncio.open_connection to a checked address (SMPP)

Exceptions::

    BlockedAddress (OSError)    every address of the host is internal; adapters classify it as a
                                connection failure, like any other refused connection
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from typing import Any

import aiohttp

#: The setting that lets adapters reach internal addresses (for simulators and tests only).
ALLOW_ENV = "WARNCAST_ALLOW_PRIVATE_NETWORKS"


class BlockedAddress(OSError):
    """The host resolves only to addresses warncast must not connect to."""


def _allowance() -> tuple[bool, tuple]:
    """(every internal address allowed, networks allowed) from WARNCAST_ALLOW_PRIVATE_NETWORKS."""
    raw = os.environ.get(ALLOW_ENV, "").strip()
    if raw.lower() in ("1", "true", "yes", "all"):
        return True, ()
    nets = []
    for item in (x.strip() for x in raw.split(",")):
        if item and item.lower() not in ("0", "false", "no"):
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{ALLOW_ENV} must be 1 or a list of networks such as 10.0.0.0/8, "
                                 f"not {item!r}") from None
    return False, tuple(nets)


def _ip(address: str):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


def is_internal(address: str) -> bool:
    """Loopback, link-local, private, shared (CGNAT), multicast, reserved or unspecified."""
    try:
        ip = _ip(address)
    except ValueError:
        return True
    return not ip.is_global or ip.is_multicast


def allowed(address: str) -> bool:
    """Whether an adapter may connect to this address under the current setting."""
    everything, nets = _allowance()
    if everything or not is_internal(address):
        return True
    try:
        ip = _ip(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in nets)


def check(host: str, addresses: list[str]) -> list[str]:
    """The addresses that may be connected to; BlockedAddress if none."""
    ok = [a for a in addresses if allowed(a)]
    if not ok:
        raise BlockedAddress(f"{host} resolves only to internal addresses; refusing to connect "
                             f"(set {ALLOW_ENV}=1 only for simulators and tests)")
    return ok


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, connecting only to addresses ``check`` lets through."""

    async def _resolve_host(self, host: str, port: int, traces=None):
        results = await super()._resolve_host(host, port, traces=traces)
        allowed = set(check(host, [r["host"] for r in results]))
        return [r for r in results if r["host"] in allowed]


def connector(**kw: Any) -> aiohttp.TCPConnector:
    """A TCPConnector for an adapter's session (same keyword arguments as aiohttp's)."""
    return GuardedConnector(**kw)


async def resolve(host: str, port: int) -> list[str]:
    """Checked addresses of ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return check(host, [info[4][0] for info in infos])


async def open_connection(host: str, port: int, **kw: Any):
    """asyncio.open_connection to the first checked address of ``host``."""
    addresses = await resolve(host, port)
    return await asyncio.open_connection(addresses[0], port, **kw)


#: Push services a Web Push subscription may point at (``*.`` matches any subdomain).
DEFAULT_PUSH_HOSTS = ("fcm.googleapis.com", "updates.push.services.mozilla.com", "*.notify.windows.com",
                      "web.push.apple.com")
PUSH_HOSTS_ENV = "WARNCAST_WEBPUSH_HOSTS"


def push_hosts() -> tuple[str, ...]:
    raw = os.environ.get(PUSH_HOSTS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_PUSH_HOSTS
    return tuple(h.strip().lower() for h in raw.split(",") if h.strip())


def _host_listed(host: str, listed: tuple[str, ...]) -> bool:
    return any(host == h or (h.startswith("*.") and host.endswith(h[1:]) and len(host) > len(h) - 1)
               for h in listed)


def check_push_endpoint(url: str) -> None:
    """ValueError unless a Web Push endpoint is https on an allowed push-service host (with every
    internal address allowed, for simulators and tests, any http(s) URL passes)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port                              # raises on a malformed port
    except ValueError:
        raise ValueError("endpoint is not a URL") from None
    if _allowance()[0] and parts.scheme in ("http", "https") and host:
        return
    if parts.scheme != "https":
        raise ValueError("endpoint must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("endpoint must not carry credentials")
    if not _host_listed(host, push_hosts()):
        raise ValueError(f"endpoint host {host or '(none)'} is not an allowed push service "
                         f"(allowed: {', '.join(push_hosts())})")
