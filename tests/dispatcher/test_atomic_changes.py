"""Lifecycle moves and subscriber record changes are each one atomic step: a change that lands
between another's read and its write is never overwritten."""
from __future__ import annotations

from channels.inapp import InappChannel
from dispatcher import cap, keys
from dispatcher.alerts import Lifecycle
from dispatcher.fanout import Engine
from dispatcher.settings import Settings
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.factories import body, cap_json


async def _sending_alert(redis):
    engine = Engine(redis, Settings(shard_size=1000), {"inapp": InappChannel(redis)})
    rec, _ = await engine.alerts.accept(cap.parse_json(body(cap_json(codes=["110105"]))), "test")
    await redis.hset(keys.alert(rec.id), "planned", 1)
    return engine, rec


class CancelLandsMidway:
    """Another process cancels the alert right after the first reply that shows it ``sending`` (the
    gap between a read and a write), or at the end if there was none: whatever the order, a cancel
    must be what remains."""

    def __init__(self, redis, alert_id: int):
        self.redis, self.alert_id, self.landed = redis, alert_id, False
        self.original = redis.execute_command

    async def _land(self):
        self.landed = True
        await self.original("HSET", keys.alert(self.alert_id), "lifecycle", Lifecycle.CANCELLED.value)

    async def execute_command(self, *args, **kw):
        reply = await self.original(*args, **kw)
        if not self.landed and reply == Lifecycle.SENDING.value.encode():
            await self._land()
        return reply

    async def __aenter__(self):
        self.redis.execute_command = self.execute_command
        return self

    async def __aexit__(self, *exc):
        self.redis.execute_command = self.original
        if not self.landed:
            await self._land()


async def test_a_finishing_job_never_turns_a_concurrent_cancel_into_done(redis_aio):
    engine, rec = await _sending_alert(redis_aio)
    async with CancelLandsMidway(redis_aio, rec.id):
        await engine._finish_if_done(rec.id)
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.CANCELLED


async def test_set_lifecycle_only_from_is_a_compare_and_set(redis_aio):
    engine, rec = await _sending_alert(redis_aio)
    async with CancelLandsMidway(redis_aio, rec.id):
        await engine.alerts.set_lifecycle(rec.id, Lifecycle.EXPIRED, only_from=(Lifecycle.SENDING,))
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.CANCELLED


async def test_a_cancelled_alert_is_never_reopened_or_finished(redis_aio):
    engine, rec = await _sending_alert(redis_aio)
    await engine.stop(rec.id, Lifecycle.CANCELLED, by="test")
    await engine._finish_if_done(rec.id)
    assert not await engine.alerts.set_lifecycle(rec.id, Lifecycle.SENDING, only_from=(Lifecycle.DONE,))
    assert not await engine.alerts.set_lifecycle(rec.id, Lifecycle.SUPERSEDED)
    assert await engine.alerts.lifecycle(rec.id) is Lifecycle.CANCELLED


async def test_pruning_an_endpoint_never_undoes_a_concurrent_patch(redis_aio):
    store = SubscriberStore(redis_aio, 1000)
    (sid,) = await store.write_many([Subscriber(regions=["110105"], channels=["hms", "sms", "inapp"],
                                                endpoints={"hms": "tok-1", "sms": "+8613900000001"})])
    hmget = redis_aio.hmget

    async def patch_lands_after_the_read(*args, **kw):
        got = await hmget(*args, **kw)
        redis_aio.hmget = hmget
        await store.update(sid, {"language": "en", "regions": ["110108"]})      # the subscriber's PATCH
        return got
    redis_aio.hmget = patch_lands_after_the_read
    assert await store.remove_endpoints(0, [sid], "hms") == 1
    redis_aio.hmget = hmget
    now = await store.get(sid)
    assert now.language == "en" and now.regions == ["110108"]       # the PATCH survived
    assert now.channels == ["sms", "inapp"] and "hms" not in now.endpoints   # and so did the prune


async def test_a_patch_never_restores_an_endpoint_pruned_meanwhile(redis_aio):
    store = SubscriberStore(redis_aio, 1000)
    (sid,) = await store.write_many([Subscriber(regions=["110105"], channels=["hms", "inapp"],
                                                endpoints={"hms": "tok-1"})])
    read = store._read
    pruned = []

    async def prune_lands_after_the_read(client, s):
        got = await read(client, s)
        if not pruned:
            pruned.append(await SubscriberStore(redis_aio, 1000).remove_endpoints(0, [sid], "hms"))
        return got
    store._read = prune_lands_after_the_read
    await store.update(sid, {"language": "en"})
    store._read = read
    now = await store.get(sid)
    assert pruned == [1] and now.language == "en"
    assert now.channels == ["inapp"] and "hms" not in now.endpoints
