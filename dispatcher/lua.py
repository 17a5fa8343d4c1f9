"""Lua scripts that can run on their own or inside a pipeline.

Inside a pipeline a script goes as EVAL with its source (Redis caches it by hash): redis-py's
EVALSHA path would first ask SCRIPT EXISTS in a round trip of its own for every pipeline.
"""
from __future__ import annotations

from typing import Any, Sequence


class Lua:
    def __init__(self, redis, source: str):
        self.source = source
        self._script = redis.register_script(source)

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._script(keys=list(keys), args=list(args))

    def queue(self, pipe, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Add the script to a pipeline; its reply comes back with the others."""
        pipe.eval(self.source, len(keys), *keys, *args)
