"""The send stages alone, with a fake clock and a fake sleep: routing, the retry policy, and the send
stage's retries (nothing waits for real)."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from channels.base import Channel, Outcome, Reason, Result
from dispatcher import cap
from dispatcher.alerts import AlertStore
from dispatcher.fanout import Guard
from dispatcher.send_stages import BatchContext, RetryPolicy, SendPath, ShardReport, ShardRun, route
from dispatcher.settings import Settings
from dispatcher.via import Via
from tests.factories import body, cap_json

OK = Result(Outcome.ACCEPTED, provider_id="m")
RETRY = Result(Outcome.RETRY, Reason.THROTTLED, retry_after_s=0.5)
GONE = Result(Outcome.GONE, Reason.UNREGISTERED)


class Clock:
    def __init__(self, t: float):
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


class Scripted(Channel):
    """Answers each request from a script: one list of results per attempt."""

    name = "hms"

    def __init__(self, script):
        self.script, self.requests = list(script), []

    async def send_columns(self, notice, subscriber_ids, endpoints):
        self.requests.append(list(subscriber_ids))
        answer = self.script.pop(0)
        return [answer] * len(subscriber_ids)


async def _ctx(redis, channel, n=3, expires_in=3600):
    rec, _ = await AlertStore(redis).accept(cap.parse_json(body(cap_json(expires_in=expires_in))), "t")
    ctx = BatchContext(rec, 0, Via("hms", 2, channel), notice=None, asked=np.arange(n), report=ShardReport(0),
                       run=ShardRun(rec.lane))
    ctx.offs, ctx.ids, ctx.endpoints = list(range(n)), list(range(n)), ["tok"] * n
    ctx.outcome, ctx.pending = [None] * n, list(range(n))
    return ctx


def _path(redis, clock: Clock, **settings) -> SendPath:
    s = replace(Settings(shard_size=1000), **settings)
    return SendPath(redis, size=1000, guard=Guard(), leases=None, transitions=None, history=None, subscribers=None,
                    policy=RetryPolicy(s, clock, clock.sleep), clock=clock)


async def test_route_sorts_answers_into_accepted_failover_and_retry_later(redis_aio):
    ctx = await _ctx(redis_aio, Scripted([]))
    ctx.outcome = [OK, GONE, RETRY]
    ctx.pending = [2]
    r = route(ctx, time.time())
    assert (r.accepted, r.over, r.queued, r.expired, r.gone) == ([0], [1, 2], [], [], [1])
    assert r.reasons == {"reason:hms:unregistered": 1, "reason:hms:throttled": 1}
    ctx.queue_at = time.time() + 30                               # the retry went to the schedule
    r = route(ctx, time.time())
    assert (r.over, r.queued) == ([1], [2])
    r = route(ctx, ctx.rec.expires_at + 1)                        # or the alert expired meanwhile
    assert (r.queued, r.expired) == ([], [2])


async def test_send_retries_in_place_with_the_policys_waits(redis_aio):
    clock = Clock(time.time())
    channel = Scripted([RETRY, RETRY, OK])
    ctx = await _ctx(redis_aio, channel)
    assert await _path(redis_aio, clock, max_attempts=4, retry_in_place_max_s=2.0).send(ctx)
    assert len(channel.requests) == 3 and ctx.outcome == [OK] * 3 and ctx.pending == []
    assert len(clock.slept) == 2 and all(s >= 0.5 for s in clock.slept)   # Retry-After honoured


async def test_a_long_wait_goes_to_the_retry_schedule_instead(redis_aio):
    clock = Clock(time.time())
    channel = Scripted([Result(Outcome.RETRY, Reason.THROTTLED, retry_after_s=30)])
    ctx = await _ctx(redis_aio, channel)
    await _path(redis_aio, clock, retry_in_place_max_s=2.0).send(ctx)
    assert clock.slept == [] and ctx.queue_at == pytest.approx(clock.t + 30)
    assert ctx.pending == [0, 1, 2]


async def test_attempts_stop_at_the_limit_and_never_past_expiry(redis_aio):
    clock = Clock(time.time())
    channel = Scripted([RETRY] * 10)
    ctx = await _ctx(redis_aio, channel)
    await _path(redis_aio, clock, max_attempts=3, retry_in_place_max_s=5.0).send(ctx)
    assert len(channel.requests) == 3 and ctx.pending == [0, 1, 2]
    channel = Scripted([RETRY] * 10)
    ctx = await _ctx(redis_aio, channel, expires_in=60)
    clock.t = ctx.rec.expires_at - 0.1                            # the next wait would outlive the alert
    await _path(redis_aio, clock, max_attempts=10, retry_in_place_max_s=5.0).send(ctx)
    assert len(channel.requests) == 1 and ctx.queue_at is None
