"""Commands packed into RESP by hiredis (C) for the asyncio client.

redis-py's synchronous client packs commands with hiredis when it is installed; its asyncio client
(up to 8.x at least) always packs them in Python, which is most of a pipeline's client-side cost on
the send path. ``hiredis_packing`` gives a connection class hiredis's packer; arguments hiredis does
not take (booleans, bytearrays, None) go through redis-py's own packer, so errors stay redis-py's.
"""
from __future__ import annotations

import functools

try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis is a dependency; without it redis-py packs
    hiredis = None


def _pack(self, *args):
    command = args[0]
    if isinstance(command, str):
        if " " in command:
            args = (*command.split(), *args[1:])
    elif b" " in command:
        args = (*command.split(), *args[1:])
    try:
        return [hiredis.pack_command(args)]
    except TypeError:
        return self._python_pack_command(*args)


@functools.cache
def hiredis_packing(connection_class: type) -> type:
    """``connection_class`` with hiredis's packer (the class itself when hiredis is missing)."""
    if hiredis is None or not hasattr(hiredis, "pack_command"):
        return connection_class
    return type(f"Hiredis{connection_class.__name__}", (connection_class,), {
        "pack_command": _pack,
        "_python_pack_command": connection_class.pack_command,
    })
