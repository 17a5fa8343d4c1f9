"""Tables for people: delivery stats per channel with latency percentiles."""
from __future__ import annotations

from rich.table import Table

COLS = ("targeted", "sent", "delivered", "read", "confirmed", "failover", "failed", "suppressed")


def _ms(v) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def stats_table(stats: dict, title: str = "deliveries") -> Table:
    t = Table(title=title)
    t.add_column("channel")
    for c in COLS:
        t.add_column(c, justify="right")
    for p in ("p50", "p95", "p99"):
        t.add_column(f"{p} sent ms", justify="right")
    lat = stats["latency_ms"]
    for ch, row in stats["channels"].items():
        if ch == "webhook":
            continue
        l = lat.get(f"{ch}:sent", {})
        t.add_row(ch, *(f"{row.get(c, 0):,}" for c in COLS), *(_ms(l.get(p)) for p in ("p50", "p95", "p99")))
    tot = stats["totals"]
    t.add_row("all", *(f"{tot.get(c, 0):,}" for c in COLS), *(_ms(lat["sent"].get(p)) for p in ("p50", "p95", "p99")),
              style="bold")
    return t
