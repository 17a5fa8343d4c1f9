"""Named groups of subscribers that Restricted alerts reach (``restriction`` names the group).

An operator keeps each group's members ("school-principals": the principals' subscriber ids); a
Restricted alert reaches the group's members inside its area, or all of them when it has no area.
A ``restriction`` naming no group reaches nobody.
"""
from __future__ import annotations

import re

from . import keys
from .errors import BadRequest, NotFound

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: Most members one request may add or remove.
MAX_CHANGE = 100_000


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadRequest("a group name is 1-64 lowercase letters, digits or ._- (starting with a letter or digit)",
                         [{"field": "name", "message": "1-64 of a-z 0-9 . _ -"}])
    return name


def group_of(restriction: str | None) -> str | None:
    """The group a CAP ``restriction`` names (its first word), or None if it names none."""
    word = (restriction or "").strip().split(" ", 1)[0].lower()
    return word if NAME.fullmatch(word) else None


def check_ids(value, path: str = "subscriber_ids") -> list[int]:
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_CHANGE
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise BadRequest(f"{path} must list 1 to {MAX_CHANGE} subscriber ids",
                         [{"field": path, "message": "a list of whole numbers"}])
    return value


class GroupStore:
    def __init__(self, redis):
        self.redis = redis

    async def names(self) -> list[dict]:
        names = sorted(n.decode() for n in await self.redis.smembers(keys.GROUPS))
        pipe = self.redis.pipeline(transaction=False)
        for n in names:
            pipe.scard(keys.group(n))
        return [{"name": n, "members": c} for n, c in zip(names, await pipe.execute())]

    async def members(self, name: str) -> list[int]:
        return sorted(int(m) for m in await self.redis.smembers(keys.group(name)))

    async def get(self, name: str) -> list[int]:
        if not await self.redis.sismember(keys.GROUPS, check_name(name)):
            raise NotFound(f"no group {name}", [{"field": "name", "message": "unknown group"}])
        return await self.members(name)

    async def add(self, name: str, ids: list[int]) -> int:
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(keys.GROUPS, check_name(name))
        pipe.sadd(keys.group(name), *check_ids(ids))
        return (await pipe.execute())[1]

    async def remove(self, name: str, ids: list[int]) -> int:
        await self.get(name)
        return await self.redis.srem(keys.group(name), *check_ids(ids))

    async def delete(self, name: str) -> None:
        await self.get(name)
        pipe = self.redis.pipeline(transaction=True)
        pipe.srem(keys.GROUPS, name)
        pipe.delete(keys.group(name))
        await pipe.execute()
