"""Check that `warncast serve` can listen before it starts anything, so a busy port is one line."""
from __future__ import annotations

import errno
import socket

from .cli_client import CliError


SERVE_HINT = "choose another port with --port or WARNCAST_PORT"


def check_can_listen(host: str, port: int, hint: str = SERVE_HINT) -> None:
    """CliError naming what to do if (host, port) cannot be bound; the probe socket is closed again."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on {host!r}: {exc.strerror}; set WARNCAST_HOST or --host to an address "
                       "of this machine", 2) from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise listen_error(host, port, exc, hint) from None


def listen_error(host: str, port: int, exc: OSError, hint: str = SERVE_HINT) -> CliError:
    if exc.errno == errno.EADDRINUSE:
        who = " (another `warncast serve`?)" if hint == SERVE_HINT else ""
        return CliError(f"port {port} on {host} is already in use{who}: stop that process, or {hint}")
    if exc.errno == errno.EACCES:
        return CliError(f"not allowed to listen on port {port} of {host}: {hint.replace('another port', 'a port above 1023')}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return CliError(f"{host} is not an address of this machine: set WARNCAST_HOST or --host", 2)
    return CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
