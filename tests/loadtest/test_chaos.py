"""The chaos suite (``python -m loadtest.chaos``) at CI size: every scenario, each bound holding.

Each scenario runs its own redis-server, simulators and API, as the full suite does, with a
few thousand subscribers; the knobs that make a small alert last long enough to strike at
~30% of it (provider quotas, smaller batches, simulator latency) are scaled down with it.
"""
from __future__ import annotations

import json

import pytest

from loadtest.chaos import run_one

pytestmark = pytest.mark.timeout(120)


def _explain(out) -> str:
    d = out.as_dict()
    d["details"].pop("traceback", None)
    return json.dumps({"failed": [k for k, v in out.checks.items() if not v], "error": out.error,
                       "details": d["details"], "traceback": out.details.get("traceback", "")},
                      default=str, indent=1)[:6000]


async def _ok(name: str, n: int, **kw):
    out = await run_one(name, n, limit_s=100, **kw)
    assert out.ok, _explain(out)
    return out


async def test_transient_errors_reach_everyone_once():
    out = await _ok("transient_20pct", 3000, send_chunk=50)
    assert out.delivered == out.targeted and out.duplicates == 0
    injected = out.details["injected"]
    assert sum(injected["hms"].values()) and sum(injected["sms"].values())


async def test_stalled_answers_duplicate_only_the_stalled_messages():
    out = await _ok("transient_plus_stalls", 3000, stall_rate=0.08, send_chunk=50)
    assert out.duplicates <= out.duplicates_bound and out.duplicates_bound > 0


async def test_unregistered_tokens_fail_over_to_sms_and_are_pruned():
    out = await _ok("unregistered_5pct", 3000)
    assert out.details["unregistered"] == out.details["reached_by_sms"] > 0
    assert out.details["still_hold_hms"] == 0


async def test_provider_down_opens_the_circuit_and_hms_is_used_again():
    out = await _ok("provider_down_10s", 3000, down_s=3.0, send_chunk=50)
    assert out.details["circuit_after_first"]["opened"] >= 1
    assert out.details["second_alert_hms_subscribers"]["hms"] > 0


async def test_killed_worker_duplicates_at_most_its_batches_in_flight():
    out = await _ok("worker_killed", 4000, shard_size=1000, pace_s=3.0)
    assert out.duplicates <= out.details["in_flight_at_kill"] <= out.duplicates_bound


async def test_redis_restart_loses_nothing_and_fanout_resumes():
    out = await _ok("redis_restarted", 4000, pace_s=3.0, down_s=1.0)
    assert out.details["reached_kept"] == out.details["reached_before_stop"] > 0


async def test_cancel_stops_everything_but_the_batches_in_flight():
    out = await _ok("cancel_at_30pct", 4000, pace_s=3.0)
    assert out.details["accepted_after_cancel"] <= out.details["in_flight_at_cancel"]
    assert out.details["cancelled"] > 0


async def test_red_alert_overtakes_a_running_blue_one():
    """Ordering, not timing (speed is the benchmark's: ``python -m loadtest.bench_preempt``)."""
    out = await _ok("red_during_blue", 5000, send_chunk=50, latency_ms=(150.0, 200.0), first_send_s=None)
    assert out.subscribers == 20_000
    assert out.checks["blue_still_going"] and out.checks["red_finished_before_blue"]
