"""Preemption benchmark: a red alert published while a big blue one is sending.

    python -m loadtest.bench_preempt [--subscribers 1000000] [--at 0.1] [--json FILE]

A blue (Minor) alert to every synthetic subscriber; at ``--at`` of it accepted by
the simulators, a red (Extreme, Immediate) one to the same people. It passes when
the red alert's first send is accepted within 250 ms of its 202 while the blue one
is still sending, the red one finishes before the blue one, and everyone gets both
exactly once. Prints one markdown table (the chaos harness's ``red_during_blue``
scenario, with the 250 ms bound).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

from .chaos import run_one

FIRST_SEND_S = 0.25


def table(o) -> str:
    d = o.details
    rows = [
        ("subscribers", f"{o.subscribers:,}"),
        ("blue accepted when red was published", f"{d.get('blue_accepted_when_red_published', 0):,}"),
        ("red first send after its 202 (ms)", d.get("red_first_send_after_202_ms")),
        ("red first send after its POST (ms)", d.get("red_first_send_after_post_ms")),
        ("red all sent after its 202 (s)", d.get("red_all_sent_after_202_s")),
        ("blue's last send after red's first (s)", d.get("blue_last_send_after_red_first_s")),
        ("targeted / delivered (both alerts)", f"{o.targeted:,} / {o.delivered:,}"),
        ("duplicates", o.duplicates),
        ("wall s", f"{o.wall_s:.1f}"),
    ] + [(f"check: {k}", "yes" if v else "NO") for k, v in o.checks.items()] + [("ok", "yes" if o.ok else f"NO {o.error}")]
    return "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


async def main_async(n: int, at: float, json_path: str | None) -> int:
    from . import chaos
    chaos.SIZE["red_during_blue"] = lambda _: n
    started = time.time()
    out = await run_one("red_during_blue", n, limit_s=1800, at=at, first_send_s=FIRST_SEND_S, timeout_s=1500)
    print(f"python -m loadtest.bench_preempt --subscribers {n} --at {at}  ({time.strftime('%Y-%m-%d %H:%M', time.gmtime(started))} UTC)")
    print(table(out), flush=True)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out.as_dict(), f, indent=2, default=str)
    return 0 if out.ok else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.bench_preempt", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=1_000_000)
    p.add_argument("--at", type=float, default=0.1)
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args.subscribers, args.at, args.json_path))


if __name__ == "__main__":
    sys.exit(main())
