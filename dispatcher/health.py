"""What the operator's health panel shows: each provider's circuit, error rate and quota use, the
shard jobs waiting per lane, the workers with their last heartbeat, and the fan-outs still pending."""
from __future__ import annotations

import asyncio
import time

from rq import Queue, Worker

from . import keys
from .alerts import LANES
from .circuit import Circuits
from .distributed import queue_name


def providers(circuits: dict[str, dict], channels: dict, guard, sending_per_s: dict[str, float]) -> list[dict]:
    """One row per enabled provider channel (and any with a circuit): state, error rate over the
    circuit's window, sends per second now against its quota."""
    names = sorted(({n for n, ch in channels.items() if n != "inapp"} | set(circuits)))
    rows = []
    for name in names:
        snap = circuits.get(name, {})
        ok, bad = snap.get("window_successes", 0), snap.get("window_failures", 0)
        channel = channels.get(name)
        quota = guard.rate_for(channel) if channel is not None and hasattr(guard, "rate_for") else None
        rate = sending_per_s.get(name, 0.0)
        rows.append({
            "provider": name, "state": snap.get("state", "closed"), "retry_in_s": snap.get("retry_in_s"),
            "opened": snap.get("opened", 0), "error_rate": round(bad / (ok + bad), 3) if ok + bad else None,
            "window_batches": ok + bad, "sending_per_s": rate, "quota_per_s": quota,
            "quota_use": round(rate / quota, 3) if quota else None,
        })
    return rows


async def queues(redis, pool) -> list[dict]:
    """Shard jobs waiting per lane: in this process's pool, and on the RQ queues workers serve."""
    pipe = redis.pipeline(transaction=False)
    for lane in LANES:
        pipe.llen(Queue.redis_queue_namespace_prefix + queue_name(lane))
    rq_depth = await pipe.execute()
    local = pool.depth_by_lane() if pool is not None else [0] * len(LANES)
    return [{"lane": lane, "embedded": local[i], "workers": int(rq_depth[i])} for i, lane in enumerate(LANES)]


def _rq_workers(conn) -> list[dict]:
    out = []
    for w in Worker.all(connection=conn):
        beat = w.last_heartbeat
        job = w.get_current_job()
        out.append({"name": w.name, "kind": "rq", "state": str(w.get_state()),
                    "last_heartbeat": beat.timestamp() if beat else None, "queues": w.queue_names(),
                    "job": job.description if job is not None else None})
    return out


async def workers(store, pool) -> list[dict]:
    """The `warncast worker` processes (RQ's registry and heartbeats) and this process's pool."""
    rows = await asyncio.to_thread(_rq_workers, store.sync()) if store is not None else []
    if pool is not None:
        rows.insert(0, {"name": "embedded pool (this server)", "kind": "embedded",
                        "state": "busy" if pool.in_flight else "idle", "last_heartbeat": time.time(),
                        "queues": list(LANES), "job": f"{pool.in_flight} of {pool.concurrency} running"})
    return rows


async def pending_fanouts(engine) -> list[dict]:
    ids = sorted(int(x) for x in await engine.redis.smembers(keys.FANOUT_PENDING))
    pipe = engine.redis.pipeline(transaction=False)
    for a in ids:
        pipe.scard(keys.alert_shards(a))
    left = await pipe.execute()
    out = []
    for a, n in zip(ids, left):
        s = (await engine.alerts.get(a)).summary()
        out.append({"id": a, "headline": s["headline"], "severity": s["severity"], "lifecycle": s["lifecycle"],
                    "lane": s["lane"], "shards_left": int(n), "accepted_at": s["accepted_at"]})
    return out


async def snapshot(app_parts: dict, sending_per_s: dict[str, float]) -> dict:
    engine, pool, store = app_parts["engine"], app_parts["pool"], app_parts["store"]
    return {
        "providers": providers(await Circuits(engine.redis).snapshot(), engine.channels, engine.guard, sending_per_s),
        "queues": await queues(engine.redis, pool),
        "workers": await workers(store, pool),
        "pending": await pending_fanouts(engine),
        "time": time.time(),
    }
