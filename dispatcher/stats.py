"""Delivery statistics read from the per-alert counters and latency histograms (O(1) per alert)."""
from __future__ import annotations

from . import keys
from .delivery import State, percentiles

COLUMNS = ("targeted", "sent", "delivered", "read", "confirmed", "failover", "failed", "expired", "cancelled",
           "suppressed")
#: States counted per channel that the ``all`` row adds up.
ROLLED_UP = ("sent", "delivered", "read", "confirmed", "failover", "failed", "cancelled")


def _decode(h: dict) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in h.items()}


async def alert_stats(redis, alert_id: int) -> dict:
    pipe = redis.pipeline(transaction=False)
    queue_alert_stats(pipe, alert_id)
    return stats_from(*await pipe.execute())


def queue_alert_stats(pipe, alert_id: int) -> None:
    """The three reads ``stats_from`` takes, in the caller's pipeline (the live dashboard reads many
    alerts in one round trip)."""
    pipe.hgetall(keys.counters(alert_id))
    pipe.hgetall(keys.latency(alert_id))
    pipe.hget(keys.alert(alert_id), "targeted")


def stats_from(raw_counts: dict, raw_hist: dict, targeted) -> dict:
    counts, hist = _decode(raw_counts), _decode(raw_hist)
    channels: dict[str, dict[str, int]] = {}
    reasons: dict[str, int] = {}
    for k, v in counts.items():
        if k.startswith("reason:"):
            reasons[k[7:]] = v
            continue
        ch, state = k.rsplit(":", 1)
        channels.setdefault(ch, {c: 0 for c in COLUMNS})[state] = v
    overall = rollup(channels.pop("all", {}), channels)
    per_channel = {ch: row for ch, row in sorted(channels.items())}
    overall["targeted"] = int(targeted or 0)
    return {
        "targeted": overall["targeted"],
        "totals": overall,
        "channels": per_channel,
        "latency_ms": {
            "sent": percentiles(hist, None, State.SENT),
            **{f"{ch}:sent": percentiles(hist, ch, State.SENT) for ch in per_channel},
            "delivered": percentiles(hist, None, State.DELIVERED),
            "confirmed": percentiles(hist, None, State.CONFIRMED),
        },
        "failure_reasons": reasons,
    }


def rollup(own: dict[str, int], per_channel: dict[str, dict[str, int]]) -> dict[str, int]:
    """The ``all`` row: what is counted for subscribers as a whole (targeted, suppressed, out of
    channels, expired, cancelled before a send) plus every channel's sends, receipts and failures.
    The webhook forwards the alert to systems, not subscribers, so it stays out."""
    row = {c: int(own.get(c, 0)) for c in COLUMNS}
    for state in ROLLED_UP:
        row[state] += sum(r.get(state, 0) for ch, r in per_channel.items() if ch != "webhook")
    return row


async def totals(redis) -> dict[str, dict[str, int]]:
    """Transitions over all alerts, per channel and state, with the ``all`` row rolled up (for
    /metrics, /api/v1/stats and the dashboard)."""
    out: dict[str, dict[str, int]] = {}
    for k, v in _decode(await redis.hgetall(keys.TOTALS)).items():
        ch, state = k.rsplit(":", 1)
        out.setdefault(ch, {})[state] = v
    out["all"] = rollup(out.pop("all", {}), out)
    return out


async def latency_totals(redis) -> dict[str, int]:
    """The latency histogram over all alerts ("<channel>:<state>:<bucket µs>" → count)."""
    return _decode(await redis.hgetall(keys.LATENCY_TOTALS))
