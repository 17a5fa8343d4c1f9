"""In distributed mode a red alert's shard jobs go to the immediate lane's RQ queue, which workers
drain before any lower lane's, and a running lower-lane job is told to yield while it has work."""
from __future__ import annotations

from rq import Queue

from dispatcher import cap
from dispatcher.alerts import AlertStore
from dispatcher.distributed import enqueue_to_rq, higher_waiting_rq, queues
from tests.factories import body, cap_json


async def _lane(redis, **fields) -> str:
    rec, _ = await AlertStore(redis).accept(cap.parse_json(body(cap_json(**fields))), "t")
    return rec.lane


async def test_red_jobs_are_taken_before_blue_ones_queued_earlier(store, redis_sync, redis_aio):
    blue = await _lane(redis_aio, severity="Minor", urgency="Expected")
    red = await _lane(redis_aio, severity="Extreme", urgency="Immediate")
    assert (blue, red) == ("normal", "immediate")
    submit = enqueue_to_rq(store)
    for shard in range(3):
        await submit(1, shard, blue)          # the blue alert's jobs are queued first
    await submit(2, 0, red)
    await submit(2, 1, red)
    taken = []
    for _ in range(5):                        # the order a worker takes them in (its queues, highest first)
        job, _ = Queue.dequeue_any(queues(redis_sync), timeout=None, connection=redis_sync)
        taken.append(job.args)
    assert taken == [(2, 0), (2, 1), (1, 0), (1, 1), (1, 2)]


async def test_a_blue_job_yields_while_red_work_waits_and_not_otherwise(store, redis_sync, redis_aio):
    preempt = higher_waiting_rq(store)
    submit = enqueue_to_rq(store)
    assert not await preempt("normal")
    await submit(2, 0, "immediate")
    assert await preempt("normal") and await preempt("high")
    assert not await preempt("immediate")      # nothing is above the top lane
