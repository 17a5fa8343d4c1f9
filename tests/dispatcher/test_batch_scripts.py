"""A batch's claim and record, each one script over packed offsets: what moves, what is counted, and
what a stopped alert or a lost lease leaves behind. The claim's endpoints come back in offset order,
'' where one was removed."""
from __future__ import annotations

import numpy as np
import pytest

from channels.base import Channel, Outcome, Reason, Result
from dispatcher import cap, keys
from dispatcher.alerts import AlertStore, Lifecycle
from dispatcher.batch_scripts import BatchScripts
from dispatcher.delivery import State, Transitions, states
from dispatcher.fanout import Guard
from dispatcher.history import FailoverHistory
from dispatcher.leases import Leases
from dispatcher.send_stages import BatchContext, RetryPolicy, SendPath, ShardReport, ShardRun
from dispatcher.settings import Settings
from dispatcher.via import Via
from subscribers.store import SubscriberStore
from tests.factories import body, cap_json

SIZE = 32768


class Answers(Channel):
    """Accepts everyone except the endpoints it was told to refuse."""

    name = "hms"

    def __init__(self, refuse=()):
        self.refuse, self.sent = set(refuse), []

    async def send_columns(self, notice, subscriber_ids, endpoints):
        self.sent += list(endpoints)
        return [Result(Outcome.PERMANENT, Reason.INVALID_ENDPOINT) if e in self.refuse
                else Result(Outcome.ACCEPTED) for e in endpoints]


async def _setup(redis, offsets, token_every=1):
    rec, _ = await AlertStore(redis).accept(cap.parse_json(body(cap_json())), "t")
    st = np.zeros(SIZE, dtype=np.uint8)
    st[offsets] = State.TARGETED
    await redis.set(keys.delivery_state(0, rec.id), st.tobytes())
    eps = {int(o): f"tok{o}" for i, o in enumerate(offsets) if i % token_every == 0}
    await redis.hset(keys.endpoints(0, "hms"), mapping=eps)
    leases = Leases(redis, 30)
    lease = await leases.acquire(0, rec.id)
    path = SendPath(redis, size=SIZE, guard=Guard(), leases=leases, transitions=Transitions(redis),
                    history=FailoverHistory(redis), subscribers=SubscriberStore(redis, SIZE),
                    policy=RetryPolicy(Settings(), lambda: rec.accepted_at), clock=lambda: rec.accepted_at + 1)
    return rec, path, lease, eps


def _ctx(rec, channel, offsets, lease):
    return BatchContext(rec, 0, Via("hms", 2, channel), notice=None, asked=np.asarray(offsets),
                        report=ShardReport(0), run=ShardRun(rec.lane, lease=lease))


async def _state(redis, rec):
    return states(await redis.get(keys.delivery_state(0, rec.id)), SIZE)


@pytest.mark.parametrize("n", [1, 3, 1000, 4096])
async def test_claim_moves_the_batch_and_brings_its_endpoints_in_offset_order(redis_aio, n):
    offsets = np.arange(0, 2 * n, 2)
    rec, path, lease, eps = await _setup(redis_aio, offsets, token_every=3)
    ctx = _ctx(rec, Answers(), offsets, lease)
    assert await path.claim(ctx)
    assert ctx.offs == offsets.tolist()
    assert ctx.endpoints == [eps.get(int(o), "") for o in offsets]
    assert [o is not None for o in ctx.outcome] == [int(o) not in eps for o in offsets]
    st = await _state(redis_aio, rec)
    assert (st[offsets] == State.SENDING).all()
    chans = states(await redis_aio.get(keys.delivery_channel(0, rec.id)), SIZE)
    assert (chans[offsets] == 2).all()


async def test_claim_of_a_cancelled_alert_cancels_the_batch_and_sends_nothing(redis_aio):
    offsets = np.arange(10)
    rec, path, lease, _ = await _setup(redis_aio, offsets)
    await AlertStore(redis_aio).set_lifecycle(rec.id, Lifecycle.CANCELLED, by="t")
    channel = Answers()
    ctx = _ctx(rec, channel, offsets, lease)
    await path.run(ctx)
    assert channel.sent == [] and ctx.run.halt == "stopped" and ctx.report.cancelled == 10
    assert ((await _state(redis_aio, rec))[offsets] == State.CANCELLED).all()
    assert int(await redis_aio.hget(keys.counters(rec.id), "hms:cancelled")) == 10


async def test_claim_without_the_lease_claims_nothing(redis_aio):
    offsets = np.arange(10)
    rec, path, _, _ = await _setup(redis_aio, offsets)
    channel = Answers()
    ctx = _ctx(rec, channel, offsets, lease="someone-else")
    await path.run(ctx)
    assert channel.sent == [] and ctx.run.halt == "lost"
    assert ((await _state(redis_aio, rec))[offsets] == State.TARGETED).all()


async def test_record_moves_and_counts_each_outcome(redis_aio):
    offsets = np.arange(20)
    rec, path, lease, _ = await _setup(redis_aio, offsets)
    channel = Answers(refuse={"tok3", "tok7"})
    failed_over = await path.run(_ctx(rec, channel, offsets, lease))
    assert failed_over.tolist() == [3, 7]
    st = await _state(redis_aio, rec)
    assert (st[[3, 7]] == State.FAILOVER).all() and (np.delete(st[:20], [3, 7]) == State.SENT).all()
    counters = {k.decode(): int(v) for k, v in (await redis_aio.hgetall(keys.counters(rec.id))).items()}
    assert counters["hms:targeted"] == 20 and counters["hms:sent"] == 18 and counters["hms:failover"] == 2
    assert counters["reason:hms:invalid_endpoint"] == 2
    totals = {k.decode(): int(v) for k, v in (await redis_aio.hgetall(keys.TOTALS)).items()}
    assert totals["hms:sent"] == 18
    hist = await redis_aio.hgetall(keys.latency(rec.id))
    assert sum(int(v) for k, v in hist.items() if k.startswith(b"hms:sent")) == 18
    assert await redis_aio.hget(keys.failed_channels(0, rec.id), "3") == b"hms"


async def test_record_counts_only_the_subscribers_that_moved(redis_aio):
    """Subscribers cancelled while their batch was out are neither sent nor counted as sent."""
    offsets = np.arange(10)
    rec, path, lease, _ = await _setup(redis_aio, offsets)
    ctx = _ctx(rec, Answers(), offsets, lease)
    assert await path.claim(ctx)
    await Transitions(redis_aio).apply(redis_aio, 0, rec.id, State.CANCELLED, np.arange(4), allowed=(State.SENDING,))
    await path.send(ctx)
    await path.record(ctx)
    st = await _state(redis_aio, rec)
    assert (st[:4] == State.CANCELLED).all() and (st[4:10] == State.SENT).all()
    assert int(await redis_aio.hget(keys.counters(rec.id), "hms:sent")) == 6


async def test_the_batch_scripts_run_alone_too(redis_aio):
    """The record script's counters, fixed and by moved group, with nothing claimed: nothing counted but
    the fixed ones."""
    scripts = BatchScripts(redis_aio)
    pipe = redis_aio.pipeline(transaction=False)
    scripts.queue_record(pipe, "st", [[1, 2], [], [], []], ["h"], [(1, 0, "sent"), (0, 0, "fixed", 5)])
    (moved,) = await pipe.execute()
    assert moved == [0, 0, 0, 0]
    assert await redis_aio.hgetall("h") == {b"fixed": b"5"}
