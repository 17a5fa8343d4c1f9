"""Subscriber records, their columns and endpoints in Redis: create, read, update, delete, bulk write.

A subscriber ``id`` is dense: shard = id // shard_size, offset = id % shard_size.
Every write of one subscriber is one MULTI, so the record and every index cell
change together.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Iterable

import numpy as np
import orjson
import redis.asyncio as aioredis

from dispatcher import keys

from . import columns as C
from . import geo
from .errors import NotFound, ValidationError
from .model import SUBSCRIBER_CHANNELS, Subscriber, validate


def token_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()[:16]


class SubscriberStore:
    def __init__(self, redis: aioredis.Redis, shard_size: int = 32_768):
        self.redis = redis
        self.shard_size = shard_size

    def locate(self, sid: int) -> tuple[int, int]:
        return divmod(sid, self.shard_size)

    # -- single subscriber -------------------------------------------------
    async def create(self, data: dict) -> tuple[Subscriber, str]:
        """Validate, store, and return the subscriber with its new token (shown once)."""
        sub = validate(data)
        sub.id = int(await self.redis.incr(keys.SUBSCRIBER_SEQ)) - 1
        sub.created = time.time()
        secret = secrets.token_urlsafe(24)
        pipe = self.redis.pipeline(transaction=True)
        self._write(pipe, sub, previous=None)
        shard, off = self.locate(sub.id)
        pipe.setrange(keys.column(shard, C.TOKEN.name), off * C.TOKEN.width, token_digest(secret))
        await pipe.execute()
        return sub, f"{sub.id}.{secret}"

    async def get(self, sid: int) -> Subscriber:
        shard, off = self.locate(sid)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.records(shard), off)
        for ch in SUBSCRIBER_CHANNELS:
            pipe.hget(keys.endpoints(shard, ch), off)
        raw, *eps = await pipe.execute()
        if raw is None:
            raise NotFound(sid)
        endpoints = {ch: v.decode() for ch, v in zip(SUBSCRIBER_CHANNELS, eps) if v is not None}
        return Subscriber.from_record(sid, orjson.loads(raw), endpoints)

    async def update(self, sid: int, data: dict) -> Subscriber:
        current = await self.get(sid)
        sub = validate(data, base=current)
        pipe = self.redis.pipeline(transaction=True)
        self._write(pipe, sub, previous=current)
        await pipe.execute()
        return sub

    async def set_location(self, sid: int, lat: float, lon: float) -> Subscriber:
        return await self.update(sid, {"location": {"lat": lat, "lon": lon}})

    async def delete(self, sid: int) -> None:
        current = await self.get(sid)
        shard, off = self.locate(sid)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.records(shard), off)
        for col in C.ALL:
            pipe.setrange(keys.column(shard, col.name), off * col.width, b"\0" * col.width)
        for ch in C.CHANNEL_IDS:     # every endpoint hash, including any the record does not list
            if ch != "inapp":
                pipe.hdel(keys.endpoints(shard, ch), off)
        if current.location:
            geo.remove_location(pipe, shard, off, *current.location)
        await pipe.execute()
        if current.external_id:      # a global key: outside the shard's MULTI (one slot per MULTI)
            await self.redis.hdel(keys.SUBSCRIBER_EXTERNAL, current.external_id)

    async def remove_endpoint(self, sid: int, channel: str) -> None:
        """Prune an endpoint the provider reported gone; the channel leaves the chain."""
        shard, off = self.locate(sid)
        await self.remove_endpoints(shard, [off], channel)

    async def remove_endpoints(self, shard: int, offsets: list[int], channel: str) -> int:
        """Prune one channel's endpoint from many subscribers of a shard at once (a batch's gone
        tokens): two round trips whatever their number. Returns how many were pruned."""
        if not offsets:
            return 0
        raws = await self.redis.hmget(keys.records(shard), offsets)
        pipe = self.redis.pipeline(transaction=True)
        records, pruned = {}, 0
        for off, raw in zip(offsets, raws):
            if raw is None:
                continue
            rec = orjson.loads(raw)
            if channel not in rec["c"]:
                continue
            rec["c"] = [c for c in rec["c"] if c != channel]
            records[off] = orjson.dumps(rec)
            pipe.setrange(keys.column(shard, C.CHAIN.name), off * C.CHAIN.width,
                          C.cell(C.CHAIN, C.pack_chain(rec["c"])))
            pruned += 1
        if records:
            pipe.hset(keys.records(shard), mapping=records)
        pipe.hdel(keys.endpoints(shard, channel), *offsets)
        await pipe.execute()
        return pruned

    async def authenticate(self, token: str) -> int | None:
        """The subscriber id a token belongs to, or None."""
        sid_text, _, secret = token.partition(".")
        if not (sid_text.isascii() and sid_text.isdigit() and len(sid_text) <= 10) or not secret:
            return None
        sid = int(sid_text)
        shard, off = self.locate(sid)
        pipe = self.redis.pipeline(transaction=False)
        pipe.getrange(keys.column(shard, C.TOKEN.name), off * 16, off * 16 + 15)
        pipe.getrange(keys.column(shard, C.FLAGS.name), off, off)
        stored, flags = await pipe.execute()
        if len(stored) != 16 or not flags or not flags[0] & C.EXISTS:
            return None
        return sid if hmac.compare_digest(stored, token_digest(secret)) else None

    def _write(self, pipe, sub: Subscriber, previous: Subscriber | None) -> None:
        shard, off = self.locate(sub.id)
        pipe.hset(keys.records(shard), off, orjson.dumps(sub.record()))
        for col, value in sub.cells().items():
            pipe.setrange(keys.column(shard, col.name), off * col.width, C.cell(col, value))
        for ch in (previous.endpoints if previous else {}):
            if ch not in sub.endpoints:
                pipe.hdel(keys.endpoints(shard, ch), off)
        for ch, ep in sub.endpoints.items():
            pipe.hset(keys.endpoints(shard, ch), off, ep)
        old_loc = previous.location if previous else None
        if old_loc != sub.location:
            if old_loc:
                geo.remove_location(pipe, shard, off, *old_loc)
            if sub.location:
                geo.add_location(pipe, shard, off, *sub.location)

    # -- bulk --------------------------------------------------------------
    async def get_many(self, sids: list[int]) -> dict[int, Subscriber]:
        """The subscribers that exist among ``sids``, read in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in sids:
            shard, off = self.locate(sid)
            pipe.hget(keys.records(shard), off)
            for ch in SUBSCRIBER_CHANNELS:
                pipe.hget(keys.endpoints(shard, ch), off)
        raw = await pipe.execute()
        width = 1 + len(SUBSCRIBER_CHANNELS)
        out = {}
        for i, sid in enumerate(sids):
            rec, *eps = raw[i * width:(i + 1) * width]
            if rec is not None:
                endpoints = {ch: v.decode() for ch, v in zip(SUBSCRIBER_CHANNELS, eps) if v is not None}
                out[sid] = Subscriber.from_record(sid, orjson.loads(rec), endpoints)
        return out

    async def replace_many(self, pairs: list[tuple[Subscriber, Subscriber]]) -> None:
        """Write new versions of existing subscribers ((previous, new) pairs), one MULTI per shard;
        ids, tokens and creation times are kept."""
        by_shard: dict[int, list[tuple[Subscriber, Subscriber]]] = {}
        for previous, new in pairs:
            new.id, new.created = previous.id, previous.created
            by_shard.setdefault(self.locate(previous.id)[0], []).append((previous, new))
        for group in by_shard.values():
            pipe = self.redis.pipeline(transaction=True)
            for previous, new in group:
                self._write(pipe, new, previous=previous)
            await pipe.execute()

    async def external_ids(self, ids: list[str]) -> dict[str, int]:
        """The subscriber id of each of these external ids that is already in use."""
        found = await self.redis.hmget(keys.SUBSCRIBER_EXTERNAL, ids) if ids else []
        return {x: int(v) for x, v in zip(ids, found) if v is not None}

    async def scan_endpoints(self, shard: int, channel: str, count: int = 10_000):
        """(subscriber id, endpoint) of every endpoint a shard holds for a channel, a page at a time."""
        cursor = 0
        while True:
            cursor, page = await self.redis.hscan(keys.endpoints(shard, channel), cursor, count=count)
            yield [(shard * self.shard_size + int(off), v.decode()) for off, v in page.items()]
            if cursor == 0:
                return

    async def write_many(self, subs: list[Subscriber], chunk: int = 8_192) -> list[int]:
        """Store many validated subscribers: ids allocated at once, one MULTI per shard slice."""
        if not subs:
            return []
        first = int(await self.redis.incrby(keys.SUBSCRIBER_SEQ, len(subs))) - len(subs)
        now = time.time()
        i = 0
        while i < len(subs):
            sid = first + i
            shard, off = self.locate(sid)
            n = min(chunk, self.shard_size - off, len(subs) - i)
            await self._write_slice(shard, off, subs[i:i + n], first + i, now)
            i += n
        return list(range(first, first + len(subs)))

    async def _write_slice(self, shard: int, off: int, subs: list[Subscriber], first_id: int, now: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        cols: dict[C.Column, list] = {col: [] for col in C.ALL if col is not C.TOKEN}
        records = {}
        endpoints: dict[str, dict[int, str]] = {}
        located = []
        external: dict[str, int] = {}
        for j, sub in enumerate(subs):
            sub.id, sub.created = first_id + j, now
            records[off + j] = orjson.dumps(sub.record())
            for col, value in sub.cells().items():
                cols[col].append(value)
            for ch, ep in sub.endpoints.items():
                endpoints.setdefault(ch, {})[off + j] = ep
            if sub.location:
                located.append((off + j, sub.location))
            if sub.external_id:
                external[sub.external_id] = sub.id
        pipe.hset(keys.records(shard), mapping=records)
        for col, values in cols.items():
            if col in C.REGIONS[1:] and not any(values):
                continue
            pipe.setrange(keys.column(shard, col.name), off * col.width, np.array(values, dtype=col.dtype).tobytes())
        for ch, mapping in endpoints.items():
            pipe.hset(keys.endpoints(shard, ch), mapping=mapping)
        await pipe.execute()
        if external:                 # a global key: outside the shard's MULTI (one slot per MULTI)
            await self.redis.hset(keys.SUBSCRIBER_EXTERNAL, mapping=external)
        if located:
            await geo.bulk_add(self.redis, shard, np.array([o for o, _ in located]),
                               np.array([loc[0] for _, loc in located]), np.array([loc[1] for _, loc in located]))

    async def count(self) -> int:
        """Subscribers that exist (ids ever allocated less those deleted)."""
        seq = int(await self.redis.get(keys.SUBSCRIBER_SEQ) or 0)
        shards = range((seq + self.shard_size - 1) // self.shard_size)
        pipe = self.redis.pipeline(transaction=False)
        for shard in shards:
            pipe.hlen(keys.records(shard))
        return sum(await pipe.execute()) if shards else 0

    async def shard_count(self) -> int:
        seq = int(await self.redis.get(keys.SUBSCRIBER_SEQ) or 0)
        return (seq + self.shard_size - 1) // self.shard_size


def validate_many(rows: Iterable[tuple[int, dict]]) -> tuple[list[Subscriber], list[tuple[int, str, str]]]:
    """Validate every row; returns the subscribers and (line, field, message) per problem."""
    subs, errors = [], []
    for line, data in rows:
        try:
            subs.append(validate(data))
        except ValidationError as exc:
            errors.extend((line, f, m) for f, m in exc.errors)
    return subs, errors
