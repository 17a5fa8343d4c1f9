"""Latency histograms with log-linear buckets, as HDR histograms keep them.

A latency is counted in microseconds in the bucket named by its lower bound: values below 64 µs
have a bucket each; above, each power of two is cut into 32 equal buckets, so a bucket is at most
1/32 of its lower bound wide. A percentile is reported as its bucket's midpoint, within 1/64
(≈ 1.6 %) of the true value, in milliseconds. Buckets live in Redis hashes as
``"<channel>:<state>:<lower bound µs>" → count`` (one per alert, one over all alerts), so every
process adds to the same histogram and a reader needs one HGETALL.
"""
from __future__ import annotations

from typing import Iterable, Mapping

#: Significant bits kept of a value: 2**(BITS-1) = 32 buckets per power of two.
BITS = 6
#: Upper bounds (s) of the Prometheus histogram buckets the fine buckets are summed into.
PROMETHEUS_LE_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def bucket_us(ms: float) -> int:
    """The lower bound (µs) of the bucket counting a latency of ``ms`` milliseconds."""
    us = max(0, int(ms * 1000))
    shift = max(0, us.bit_length() - BITS)
    return (us >> shift) << shift


def width_us(lower_us: int) -> int:
    """How wide the bucket starting at ``lower_us`` is."""
    return 1 << max(0, lower_us.bit_length() - BITS)


def midpoint_ms(lower_us: int) -> float:
    return (lower_us + width_us(lower_us) / 2) / 1000


def field(channel: str, state_label: str, ms: float) -> str:
    return f"{channel}:{state_label}:{bucket_us(ms)}"


def buckets(hist: Mapping[str, int], channel: str | None, state_label: str) -> dict[int, int]:
    """Bucket lower bound (µs) → count for one state, on one channel or all of them."""
    out: dict[int, int] = {}
    for k, v in hist.items():
        ch, st, lower = k.rsplit(":", 2)
        if st != state_label or (channel is not None and ch != channel) or not lower.isdigit():
            continue
        out[int(lower)] = out.get(int(lower), 0) + int(v)
    return out


def percentiles(counts: Mapping[int, int], qs: Iterable[int] = (50, 95, 99)) -> dict[str, float | None]:
    """Percentiles (ms, rounded to 0.01) of a bucketed histogram; None when it is empty."""
    total = sum(counts.values())
    order = sorted(counts)
    out: dict[str, float | None] = {}
    for q in qs:
        if not total:
            out[f"p{q}"] = None
            continue
        need, acc = total * q / 100, 0
        for lower in order:
            acc += counts[lower]
            if acc >= need:
                out[f"p{q}"] = round(midpoint_ms(lower), 2)
                break
    return out


def cumulative_s(counts: Mapping[int, int], le_s: Iterable[float] = PROMETHEUS_LE_S
                 ) -> tuple[list[tuple[str, int]], float]:
    """Prometheus buckets (cumulative, ``le`` in seconds, ending with +Inf) and the sum (s).
    A fine bucket is counted under the first ``le`` its midpoint does not exceed."""
    bounds = list(le_s)
    per = [0] * (len(bounds) + 1)
    total_s = 0.0
    for lower, n in counts.items():
        mid_s = midpoint_ms(lower) / 1000
        total_s += mid_s * n
        i = next((j for j, le in enumerate(bounds) if mid_s <= le), len(bounds))
        per[i] += n
    out, acc = [], 0
    for le, n in zip([*(str(b) for b in bounds), "+Inf"], per):
        acc += n
        out.append((le, acc))
    return out, total_s
