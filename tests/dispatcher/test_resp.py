"""The asyncio client packs commands with hiredis, byte for byte as redis-py would."""
from __future__ import annotations

import numpy as np
import pytest
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from dispatcher.resp import hiredis_packing


@pytest.mark.parametrize("args", [
    ("SET", "k", "v"),
    ("SET", "k", "é"),
    ("HINCRBY", "wc:totals", "fcm:sent", 500),
    ("ZADD", "z", 1.5, "m", 1e20, "n", 0.1, "o"),
    ("EVAL", "return 1", 2, "a", "b", np.arange(4, dtype="<u2").tobytes()),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETNAME", b"x"),
    ("SET", "k", memoryview(b"abc")),
    ("SET", "k", bytearray(b"abc")),
    ("SET", "k", 2 ** 70),
])
def test_packed_like_redis_py(args):
    fast = hiredis_packing(Connection)()
    assert b"".join(fast.pack_command(*args)) == b"".join(Connection().pack_command(*args))
    cmds = [args, ("PING",)]
    assert b"".join(fast.pack_commands(cmds)) == b"".join(Connection().pack_commands(cmds))


@pytest.mark.parametrize("bad", [True, None, object()])
def test_arguments_redis_py_refuses_are_still_refused(bad):
    with pytest.raises(DataError):
        hiredis_packing(Connection)().pack_command("SET", "k", bad)


async def test_store_clients_pack_with_hiredis(store, redis_aio):
    client = store.aio()
    try:
        assert client.connection_pool.connection_class.pack_command is not Connection.pack_command
        assert issubclass(client.connection_pool.connection_class, (Connection, UnixDomainSocketConnection))
        await client.set("wc:test:resp", "é")
        assert await client.get("wc:test:resp") == "é".encode()
    finally:
        await client.aclose()
