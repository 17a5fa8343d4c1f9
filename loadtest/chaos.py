"""Chaos suite: every delivery guarantee under the fault that tests it, against the simulators.

    python -m loadtest.chaos [--subscribers 50000] [--json FILE] [--only NAME ...]

Each scenario gets a fresh redis-server, fresh simulators and the API, seeds the
synthetic subscribers (``subscribers.synth.CHANNEL_MIX``: HMS → SMS → in-app
chains, SMS-only, in-app only), injects its fault, and prints one markdown row:
targeted, delivered (accepted by a simulator or sent in-app), failed (with
warncast's ``reason:<channel>:<reason>`` counters), duplicates seen in the
ledgers (sends beyond the first per subscriber, over every channel), the bound
the scenario allows, wall time, ok. ``ok`` is computed from the ledgers, never
asserted; the exit code is 0 only when every scenario is ok.

Scenarios (the bound is the definition of ok):

``transient_20pct``        20% transient errors (429 with Retry-After, 500, 503, dropped
                           connections): everyone reached, no duplicates.
``transient_plus_stalls``  the same plus 1% of answers stalled after acceptance past the
                           adapters' 1 s timeout: everyone reached; duplicates only among the
                           stalled messages, and HMS duplicates share one collapse key.
``unregistered_5pct``      5% of push tokens unregistered: reached by SMS, tokens pruned, no duplicates.
``provider_down_10s``      HMS down 10 s: the circuit opens, subscribers fail over, and after the
                           return a second alert goes through HMS again: batches wait for the
                           half-open probe, so its HMS subscribers mostly stay on HMS.
``worker_killed``          RQ workers, one SIGKILLed at ~30%: everyone reached, duplicates within
                           the batches it had in flight.
``redis_restarted``        redis-server stopped and started at ~30%: everything kept, fan-out resumes.
``cancel_at_30pct``        cancelled at ~30%: nothing accepted afterwards but the in-flight batches;
                           the Cancel reaches exactly those the alert reached.
``red_during_blue``        a red alert during a 200,000-subscriber blue one: first red send within 1 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import traceback
from typing import Awaitable, Callable, Sequence

from . import chaos_crash, chaos_scenarios, chaos_timing
from .chaos_harness import Outcome

Scenario = Callable[..., Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    "transient_20pct": chaos_scenarios.transient_20pct,
    "transient_plus_stalls": chaos_scenarios.transient_plus_stalls,
    "unregistered_5pct": chaos_scenarios.unregistered_5pct,
    "provider_down_10s": chaos_scenarios.provider_down_10s,
    "worker_killed": chaos_crash.worker_killed,
    "redis_restarted": chaos_crash.redis_restarted,
    "cancel_at_30pct": chaos_timing.cancel_at_30pct,
    "red_during_blue": chaos_timing.red_during_blue,
}
#: Subscribers a scenario runs with, given --subscribers N.
SIZE: dict[str, Callable[[int], int]] = {"red_during_blue": lambda n: max(n, 4 * n if n < 50_000 else 200_000)}


async def run_one(name: str, n: int, limit_s: float = 600, **kw) -> Outcome:
    """Run one scenario; a timeout or an error is a failed row with what it saw."""
    size = SIZE.get(name, lambda x: x)(n)
    out = Outcome(name, subscribers=size)
    started = time.monotonic()
    try:
        await asyncio.wait_for(SCENARIOS[name](out, size, **kw), limit_s)
    except asyncio.TimeoutError:
        out.error = f"timed out after {limit_s:.0f} s"
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        out.details["traceback"] = traceback.format_exc()[-2000:]
    out.wall_s = time.monotonic() - started
    return out


HEADER = ("| scenario | subscribers | targeted | delivered | failed (reasons) | duplicates | duplicates_bound "
          "| wall s | ok |\n|---|---:|---:|---:|---|---:|---:|---:|---|")


def row(o: Outcome) -> str:
    reasons = ", ".join(f"{k.removeprefix('reason:')}={v}" for k, v in sorted(o.failed_reasons.items()))
    failed = f"{o.failed}" + (f" ({reasons})" if reasons else "")
    ok = "yes" if o.ok else "NO: " + (o.error or ", ".join(k for k, v in o.checks.items() if not v) or "no checks")
    return (f"| {o.scenario} | {o.subscribers:,} | {o.targeted:,} | {o.delivered:,} | {failed} | {o.duplicates:,} "
            f"| {o.duplicates_bound:,} | {o.wall_s:.1f} | {ok} |")


async def main_async(names: Sequence[str], n: int, json_path: str | None) -> int:
    print(HEADER, flush=True)
    results = []
    for name in names:
        o = await run_one(name, n)
        results.append(o)
        print(row(o), flush=True)
        if json_path:
            with open(json_path, "w") as f:
                json.dump([r.as_dict() for r in results], f, indent=2, default=str)
    return 0 if all(r.ok for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=50_000)
    p.add_argument("--json", dest="json_path")
    p.add_argument("--only", nargs="+", choices=list(SCENARIOS), metavar="NAME")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args.only or list(SCENARIOS), args.subscribers, args.json_path))


if __name__ == "__main__":
    sys.exit(main())
