"""The audience estimate: who an alert would reach, computed by the real targeting code, writing nothing.

:func:`estimate` resolves every shard with :func:`dispatcher.targeting.resolve_shard`
(the function fan-out plans with) for a record that is never stored, then
counts, with numpy, the targeted and suppressed subscribers per district
(the district of each one's first registered region; ``none`` for those
reached by location only) and per channel (the first channel of each one's
chain that this installation runs), and the SMS segments the alert would
cost (the real SMS rendering, per language). Nothing is written to Redis.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from channels.sms_text import segments
from subscribers import columns as C
from subscribers import regions

from .alerts import AlertRecord, Lifecycle, lane_for
from .cap import Alert
from .render import Renderer
from .targeting import resolve_shard_columns, target_for

SMS_CHANNELS = ("sms", "smpp")
_DISTRICT_DIV = np.uint64(10 ** 6)  # 12-digit padded code → its 6-digit district


@dataclass(frozen=True)
class Audience:
    """Where estimates read from: the Redis client, the shard layout, the channels that run here."""

    redis: object
    shard_size: int
    shard_count: int
    channels: tuple[str, ...]
    sms_signature: str = ""


def dry_record(alert: Alert, references: list[int], issuer: str = "") -> AlertRecord:
    """A record as intake would store it, with id 0, never stored."""
    expires = alert.expires_at()
    return AlertRecord(0, alert, b"", Lifecycle.SENDING, time.time(), issuer, lane_for(alert), list(references),
                       expires.timestamp() if expires else None)


def _first_channels(chain: np.ndarray, enabled: np.ndarray) -> np.ndarray:
    """Each subscriber's first channel id that runs here (0 when none does)."""
    runs_here = np.zeros(16, dtype=bool)
    runs_here[enabled] = True
    out = np.zeros(len(chain), dtype=np.uint16)
    for i in range(C.MAX_CHAIN):
        cid = (chain >> (4 * i)) & 0xF
        take = (out == 0) & runs_here[cid]
        out[take] = cid[take]
    return out


def _counts(values: np.ndarray) -> dict[int, int]:
    """value → how many, for small non-negative integers (bincount: no sort)."""
    if len(values) == 0:
        return {}
    counts = np.bincount(values.astype(np.int64))
    nonzero = np.flatnonzero(counts)
    return dict(zip(nonzero.tolist(), counts[nonzero].tolist()))


async def _shard(where: Audience, target, shard: int, enabled: np.ndarray, now: float) -> dict:
    """One shard's counts: targeted and suppressed per district, targeted per (channel, language)."""
    size = where.shard_size
    targeted, suppressed, cols = await resolve_shard_columns(where.redis, shard, target, size, now,
                                                             extra=(C.CHAIN, C.LANGUAGE))
    if len(targeted) == 0 and len(suppressed) == 0:
        return {"t": {}, "s": {}, "cl": {}}
    reg = cols[C.REGIONS[0].name]
    first = _first_channels(cols[C.CHAIN.name][targeted], enabled)
    lang = cols[C.LANGUAGE.name][targeted]
    return {"t": _counts(reg[targeted] // _DISTRICT_DIV), "s": _counts(reg[suppressed] // _DISTRICT_DIV),
            "cl": _counts(first.astype(np.int64) * len(C.LANGUAGES) + lang)}


def _merge(parts: list[dict], name: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in parts:
        for key, n in part[name].items():
            out[key] = out.get(key, 0) + n
    return out


def _by_district(targeted: dict[int, int], suppressed: dict[int, int]) -> list[dict]:
    out = []
    for code in sorted(set(targeted) | set(suppressed), key=lambda c: -targeted.get(c, 0)):
        text = f"{code:06d}" if code else "none"
        out.append({"code": text, "name": regions.name(text, "zh-CN") if code else None,
                    "name_en": regions.name(text, "en") if code else None,
                    "targeted": targeted.get(code, 0), "suppressed": suppressed.get(code, 0)})
    return out


def _sms_cost(rec: AlertRecord, by_channel_lang: dict[int, int], signature: str) -> tuple[int, dict]:
    sms_ids = {C.CHANNEL_IDS[c] for c in SMS_CHANNELS}
    renderer = Renderer(signature)
    total, per_message = 0, {}
    for key, n in sorted(by_channel_lang.items()):
        channel, index = divmod(key, len(C.LANGUAGES))
        if channel not in sms_ids:
            continue
        language = C.LANGUAGES[index]
        per_message[language] = segments(renderer.notice(rec, "sms", language).body)
        total += per_message[language] * n
    return total, per_message


async def estimate(where: Audience, rec: AlertRecord, now: float | None = None) -> dict:
    """Targeted and suppressed subscribers per district and per channel, and the SMS segments it costs."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    target = target_for(rec)
    enabled = np.array([C.CHANNEL_IDS[c] for c in where.channels if c in C.CHANNEL_IDS], dtype=np.uint16)
    parts = await asyncio.gather(*(_shard(where, target, s, enabled, now) for s in range(where.shard_count)))
    targeted, suppressed, channel_lang = _merge(parts, "t"), _merge(parts, "s"), _merge(parts, "cl")
    by_channel: dict[str, int] = {}
    for key, n in channel_lang.items():
        name = C.CHANNEL_NAMES.get(key // len(C.LANGUAGES), "none")
        by_channel[name] = by_channel.get(name, 0) + n
    sms_segments, per_message = _sms_cost(rec, channel_lang, where.sms_signature)
    return {
        "targeted": sum(targeted.values()), "suppressed": sum(suppressed.values()),
        "by_district": _by_district(targeted, suppressed), "by_channel": by_channel,
        "sms_segments": sms_segments, "sms_segments_per_message": per_message,
        "estimate_ms": round((time.perf_counter() - started) * 1000, 1),
    }
