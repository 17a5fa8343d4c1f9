"""The engine: planning, shard jobs, the send stages and lifecycle control, composed for one process.

The data flows through these modules, in this order:

    planner.py       an alert → its target → one shard job per shard with audience
    shard_runner.py  a shard job → batches grouped by (next channel of each chain, language)
    send_stages.py   a batch → Guard → Claim → Send → Route → Record
    lifecycle.py     supersede, cancel, expire, finish, reopen (each a compare-and-set)
    reaper.py        lost jobs, due retries, receipt timeouts

``Engine`` holds what they share (Redis, settings, the channels, the stores, the
clock) and exposes the calls the job runners and the API make.
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from channels.base import Channel
from subscribers import columns as C
from subscribers.store import SubscriberStore

from .alerts import AlertStore, Lifecycle
from .circuit import Permit
from .delivery import State, Transitions
from .history import FailoverHistory
from .leases import Leases
from .lifecycle import LifecycleControl
from .lru import BoundedCache
from .lua import Lua
from .planner import SET_IF_ABSENT, Planning
from .render import Renderer
from .send_stages import RetryPolicy, SendPath
from .settings import Settings
from .shard_runner import ShardRunning
from .shelters import ShelterStore
from .targeting import Target
from .via import Via

log = logging.getLogger(__name__)


class Guard:
    """What a send passes through before it goes out: the provider's circuit and rate limit.
    This one lets everything through; ``dispatcher.guard.RedisGuard`` shares both across workers."""

    async def admit(self, channel: Channel, n: int) -> Permit:
        """Before a batch: may it go (circuit), and wait until n more fit the provider's quota."""
        return Permit.ALLOWED

    async def take(self, channel: Channel, n: int) -> None:
        """Before a retry: wait until n more fit the quota."""
        return None

    def queue_record(self, pipe, channel: Channel, successes: int, failures: int, probe: bool = False) -> None:
        """Count a batch's outcome towards the provider's circuit (in the caller's pipeline)."""


class Engine(Planning, ShardRunning):
    """Everything one process needs to plan and run shard jobs."""

    def __init__(self, redis, settings: Settings, channels: dict[str, Channel],
                 submit: Callable[[int, int, str], Awaitable[None] | None] | None = None,
                 clock: Callable[[], float] = time.time, preempt: Callable[[str], Awaitable[bool]] | None = None,
                 guard: Guard | None = None):
        self.redis = redis
        self.settings = settings
        self.size = settings.shard_size
        self.alerts = AlertStore(redis)
        self.subscribers = SubscriberStore(redis, settings.shard_size)
        self.renderer = Renderer(settings.sms_signature, settings.sms_max_parts)
        self.shelters = ShelterStore(redis)
        self.transitions = Transitions(redis)
        self.leases = Leases(redis, settings.lease_s)
        self.channels = channels
        #: Hands a shard job to the runner (embedded pool or RQ).
        self.submit = submit
        #: Asks "is work of a higher lane than this one waiting?" between batches.
        self.preempt = preempt
        self.guard = guard or Guard()
        self.clock = clock
        self._targets: BoundedCache[int, Target] = BoundedCache(1024)
        self._set_if_absent = Lua(redis, SET_IF_ABSENT)
        self.history = FailoverHistory(redis)
        self.lifecycle = LifecycleControl(redis, self.alerts, self.transitions, settings.shard_size,
                                          settings.lease_s, self.subscribers.shard_count)
        self.send_path = SendPath(redis, size=self.size, guard=self.guard, leases=self.leases,
                                  transitions=self.transitions, history=self.history, subscribers=self.subscribers,
                                  policy=RetryPolicy(settings, lambda: self.clock()), clock=lambda: self.clock())

    def via(self, name: str) -> Via:
        """The chain channel ``name`` with the adapter serving it."""
        return Via(name, C.CHANNEL_IDS.get(name, 0), self.channels[name])

    # -- lifecycle (dispatcher.lifecycle) ----------------------------------
    async def stop(self, alert_id: int, lifecycle: Lifecycle, by: str) -> int:
        return await self.lifecycle.stop(alert_id, lifecycle, by)

    async def stop_shard(self, alert_id: int, shard: int, state: State) -> int:
        return await self.lifecycle.stop_shard(alert_id, shard, state)

    async def settled(self, alert_id: int, nshards: int, timeout_s: float | None = None) -> bool:
        return await self.lifecycle.settled(alert_id, nshards, timeout_s)

    async def _finish_shard(self, alert_id: int, shard: int) -> None:
        await self.lifecycle.finish_shard(alert_id, shard)

    async def _finish_if_done(self, alert_id: int) -> None:
        await self.lifecycle.finish_if_done(alert_id)

    async def reopen(self, alert_id: int, shard: int) -> None:
        """Send a finished shard again (late receipts made some subscribers fail over)."""
        if await self.lifecycle.reopen(alert_id, shard):
            rec = await self.alerts.get(alert_id)
            await self.enqueue(alert_id, shard, rec.lane)

    async def reap(self) -> int:
        from .reaper import reap
        return await reap(self)
