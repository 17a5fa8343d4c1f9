"""Provider receipts move delivery states once, whatever order or how often they come."""
import asyncio
import time

import numpy as np

from channels.base import Receipt, ReceiptStatus
from dispatcher import keys
from dispatcher.alerts import AlertStore
from dispatcher import cap
from dispatcher.delivery import State, Transitions, states
from dispatcher.receipts import ReceiptSink
from tests.factories import body, cap_json

SHARD = 1000


async def _sent(redis, n: int) -> int:
    rec, _ = await AlertStore(redis).accept(cap.parse_json(body(cap_json())), "test")
    t = Transitions(redis)
    offs = np.arange(n)
    await t.apply(redis, 0, rec.id, State.TARGETED, offs)
    await t.apply(redis, 0, rec.id, State.SENDING, offs, channel_id=6)
    await t.apply(redis, 0, rec.id, State.SENT, offs)
    return rec.id


def _r(pid: str, ok: bool = True) -> Receipt:
    return Receipt("sms", pid, ReceiptStatus.DELIVERED if ok else ReceiptStatus.FAILED)


async def _until(pred, timeout_s: float = 10.0) -> bool:
    """Poll a condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_duplicates_and_late_failures_change_nothing(redis_aio):
    alert_id = await _sent(redis_aio, 3)
    for i in range(3):
        await redis_aio.hset(keys.provider_messages("sms", int(time.time() // 86_400)), f"m{i}", f"{alert_id}:{i}")
    sink = ReceiptSink(redis_aio, SHARD)
    assert await sink.ingest([_r("m0"), _r("m0"), _r("m1", ok=False)]) == 2
    assert await sink.ingest([_r("m0", ok=False), _r("m1")]) == 0      # delivered stays; failed stays
    st = states(await redis_aio.get(keys.delivery_state(0, alert_id)), SHARD)
    assert st[:3].tolist() == [State.DELIVERED, State.FAILED, State.SENT]
    counts = await redis_aio.hgetall(keys.counters(alert_id))
    assert int(counts[b"sms:delivered"]) == 1 and int(counts[b"sms:failed"]) == 1


async def test_a_receipt_that_overtakes_its_send_is_held_until_the_send_is_recorded(redis_aio):
    alert_id = await _sent(redis_aio, 1)
    sink = ReceiptSink(redis_aio, SHARD)
    assert await sink.ingest([_r("early")]) == 0
    await redis_aio.hset(keys.provider_messages("sms", int(time.time() // 86_400) - 1), "early", f"{alert_id}:0")
    assert await _until(lambda: sink.recorded)
    await sink.close()
    st = states(await redis_aio.get(keys.delivery_state(0, alert_id)), SHARD)
    assert st[0] == State.DELIVERED and sink.unmatched == 0


async def test_receipts_for_unknown_messages_are_dropped_after_the_window(redis_aio):
    sink = ReceiptSink(redis_aio, SHARD, early_window_s=0.3)
    await sink.ingest([_r("never")])
    assert await _until(lambda: sink.unmatched)
    await sink.close()
    assert sink.unmatched == 1 and sink.recorded == 0
