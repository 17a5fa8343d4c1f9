"""Crashes: a worker process SIGKILLed mid-alert, Redis stopped and started mid-alert.

Both bound duplicates by what was in flight, read exactly from the delivery states:
subscribers left ``sending`` (claimed, outcome never recorded) by the dead worker, or
by every job when Redis went away, are the only ones a re-run may send twice.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time

import numpy as np
from rq import Worker

from channels.hms import HmsChannel
from channels.inapp import InappChannel
from channels.sms import SmsChannel
from dispatcher import keys
from dispatcher.delivery import REACHED, State, states
from loadtest.simulators.base import Faults
from subscribers import columns as C
from subscribers.store import SubscriberStore

from .chaos_harness import (Outcome, Stage, alert_doc, paced_quotas, spawn_worker, stop_procs, wait_until,
                            worker_env)

CHANNELS = (HmsChannel, SmsChannel, InappChannel)


def in_flight_capacity(send_chunk: int, shard_size: int, languages: int = 2) -> dict[str, int]:
    """Most messages one shard job can have in flight per channel: max_in_flight batches per
    (channel, language) group, of min(channel batch, send chunk) each, never more than a shard."""
    return {c.name: min(shard_size, c.max_in_flight * languages * min(c.max_batch, send_chunk)) for c in CHANNELS}


async def _targeted(stage: Stage, alert_id: int) -> int:
    """The alert's audience: counted once every shard is planned, estimated from the shards planned so
    far before (the count grows shard by shard: "at 10%" of the first shards planned would be a
    fraction of a percent of a million)."""
    planned, raw = await stage.redis.hmget(keys.alert(alert_id), ["planned", "targeted"])
    targeted = int(raw or 0)
    if planned or not targeted:
        return targeted
    shards = await stage.redis.scard(keys.alert_shards(alert_id))
    return targeted * -(-stage.n // stage.settings.shard_size) // max(1, shards)


async def _wait_fraction(stage: Stage, alert_id: int, fraction: float, timeout_s: float) -> bool:
    async def there() -> bool:
        t = await _targeted(stage, alert_id)
        return t > 0 and stage.accepted_total(alert_id) >= fraction * t
    return await wait_until(there, timeout_s, 0.005)


def _duplicated(m, n: int) -> set[int]:
    return set(np.flatnonzero(m.reach_counts(n) > 1).tolist())


async def worker_killed(out: Outcome, n: int, *, shard_size: int = 8192, latency_ms=(10.0, 30.0), pace_s: float = 8.0,
                        kill_at: float = 0.3, lease_s: float = 2.0, timeout_s: float = 180) -> None:
    """Two `warncast worker` processes; one holding a shard lease is SIGKILLed when ~30% of the
    alert's sends are accepted. Provider quotas (``paced_quotas``) make the fan-out last ~pace_s."""
    faults = dict(hms_faults=Faults(latency_ms=latency_ms, seed=8), sms_faults=Faults(latency_ms=latency_ms, seed=9))
    quotas = paced_quotas(n, pace_s)
    out.details["quotas_per_s"] = dict(quotas)
    settings = {"shard_size": shard_size, "lease_s": lease_s, "rate_limits": quotas}
    async with Stage(n, workers=0, settings=settings, **faults) as stage:
        env = worker_env(stage)
        logs = [stage.tmp / f"worker{i}.log" for i in range(2)]
        procs = [spawn_worker(env, log) for log in logs]
        stage.later(lambda: asyncio.to_thread(stop_procs, procs))
        sync = stage.store.sync()
        up = await wait_until(lambda: asyncio.to_thread(lambda: len(Worker.all(connection=sync)) >= 2), 60, 0.2)
        out.check("workers_up", up)
        answer, t0, _ = await stage.publish(alert_doc())
        alert_id = answer["id"]
        out.check("reached_kill_point", await _wait_fraction(stage, alert_id, kill_at, timeout_s))
        nshards = (n + shard_size - 1) // shard_size
        by_pid = {p.pid: p for p in procs}

        async def holder() -> tuple[int, list[int]] | None:
            owners = await stage.redis.mget([keys.shard_lease(s, alert_id) for s in range(nshards)])
            held: dict[int, list[int]] = {}
            for s, o in enumerate(owners):
                if o:
                    pid = int(o.decode().split(":")[1])
                    if pid in by_pid:
                        held.setdefault(pid, []).append(s)
            return next(iter(held.items()), None)
        found = None

        async def pick() -> bool:
            nonlocal found
            found = await holder()
            return found is not None
        out.check("victim_holds_a_lease", await wait_until(pick, 10, 0.002))
        if found is None:
            return
        pid, shards = found
        victim = by_pid[pid]
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = stage.accepted_total(alert_id)
        await asyncio.to_thread(victim.wait, 10)
        # What the dead worker had claimed and never recorded: the only sends that can go twice.
        sending: list[int] = []
        by_channel: dict[str, int] = {}
        for s in shards:
            raw_st, raw_ch = await stage.redis.mget([keys.delivery_state(s, alert_id),
                                                     keys.delivery_channel(s, alert_id)])
            st, ch = states(raw_st, shard_size), states(raw_ch, shard_size)
            offs = np.flatnonzero(st == State.SENDING)
            sending.extend((s * shard_size + offs).tolist())
            for cid, c in zip(*np.unique(ch[offs], return_counts=True)):
                name = C.CHANNEL_NAMES.get(int(cid), str(cid))
                by_channel[name] = by_channel.get(name, 0) + int(c)
        cap = in_flight_capacity(stage.settings.send_chunk, shard_size)
        out.duplicates_bound = sum(cap.values())
        out.details.update(killed_pid=pid, killed_shards=shards, killed_at_accepted=killed_at,
                           killed_after_s=round(time.time() - t0, 2), in_flight_at_kill=len(sending),
                           in_flight_at_kill_by_channel=by_channel, in_flight_capacity=cap)
        out.check("finished_in_time", await stage.wait_finished(alert_id, timeout_s, settle_s=1.0))
        m = await stage.observer.measure(alert_id)
        stage.observer.fill(out, m)
        out.details["killed_at_fraction"] = round(killed_at / max(1, out.targeted), 3)
        out.check("killed_mid_alert", 0 < killed_at < out.targeted)
        out.check("all_delivered", out.delivered == out.targeted > 0)
        out.check("duplicates_within_in_flight", out.duplicates <= len(sending) <= out.duplicates_bound)
        out.check("only_in_flight_duplicated", _duplicated(m, n) <= set(sending))


async def redis_restarted(out: Outcome, n: int, *, latency_ms=(10.0, 30.0), pace_s: float = 8.0, at: float = 0.3,
                          down_s: float = 2.0, lease_s: float = 5.0, timeout_s: float = 180) -> None:
    """The same redis-server (port, directory, AOF everysec) stopped with SIGTERM at ~30% and
    started again ``down_s`` later; the embedded pool is left to recover on its own."""
    faults = dict(hms_faults=Faults(latency_ms=latency_ms, seed=10), sms_faults=Faults(latency_ms=latency_ms, seed=11))
    quotas = paced_quotas(n, pace_s)
    out.details["quotas_per_s"] = dict(quotas)
    async with Stage(n, workers=4, settings={"lease_s": lease_s, "rate_limits": quotas}, **faults) as stage:
        answer, t0, _ = await stage.publish(alert_doc())
        alert_id = answer["id"]
        out.check("reached_stop_point", await _wait_fraction(stage, alert_id, at, timeout_s))
        before = await stage.observer.delivery_states(alert_id)
        record_before = await stage.redis.hgetall(keys.alert(alert_id))
        stopped_at = stage.accepted_total(alert_id)
        await stage.redis_server.stop(signal.SIGTERM)
        t_stop = time.time()
        await asyncio.sleep(down_s)
        await stage.redis_server.start()
        t_start = time.time()
        after = await stage.observer.delivery_states(alert_id)
        record_after = await stage.redis.hgetall(keys.alert(alert_id))
        subs_after = await SubscriberStore(stage.redis, stage.settings.shard_size).count()
        reached = np.isin(before, np.array(REACHED, dtype=np.uint8))
        kept = np.isin(after[reached], np.array(REACHED, dtype=np.uint8))
        targeted_before = int(((before != State.NONE) & (before != State.SUPPRESSED)).sum())
        targeted_after = int(((after != State.NONE) & (after != State.SUPPRESSED)).sum())
        sending = np.flatnonzero(after == State.SENDING)
        out.details.update(stopped_at_accepted=stopped_at, stopped_after_s=round(t_stop - t0, 2),
                           down_s=round(t_start - t_stop, 2), reached_before_stop=int(reached.sum()),
                           reached_kept=int(kept.sum()), sending_after_restart=int(len(sending)),
                           subscribers_after=subs_after, redis_starts=stage.redis_server.starts)
        out.check("alert_kept", record_after.get(b"xml") == record_before.get(b"xml") and bool(record_after))
        out.check("subscribers_kept", subs_after == n)
        out.check("states_kept", bool(kept.all()) and targeted_after == targeted_before > 0)
        out.check("resumed_by_itself", await stage.wait_finished(alert_id, timeout_s, settle_s=0.5))
        out.details["finished_after_restart_s"] = round(time.time() - t_start, 2)
        m = await stage.observer.measure(alert_id)
        stage.observer.fill(out, m)
        cap = in_flight_capacity(stage.settings.send_chunk, stage.settings.shard_size)
        out.details["in_flight_capacity_per_job"] = cap
        out.duplicates_bound = int(len(sending))
        out.check("stopped_mid_alert", 0 < stopped_at < out.targeted)
        out.check("all_delivered", out.delivered == out.targeted > 0)
        out.check("duplicates_within_in_flight", out.duplicates <= out.duplicates_bound)
        out.check("only_in_flight_duplicated", _duplicated(m, n) <= set(sending.tolist()))
