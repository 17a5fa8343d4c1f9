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

from . import keys
from .alerts import AlertRecord, Lifecycle, lane_for
from .cap import Alert
from .render import Renderer
from .targeting import resolve_shard, target_for

SMS_CHANNELS = ("sms", "smpp")
_DISTRICT_DIV = 10 ** 6  # 12-digit padded code → its 6-digit district


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
    out = np.zeros(len(chain), dtype=np.uint16)
    for i in range(C.MAX_CHAIN):
        cid = (chain >> (4 * i)) & 0xF
        take = (out == 0) & np.isin(cid, enabled)
        out[take] = cid[take]
    return out


async def _shard(where: Audience, target, shard: int, enabled: np.ndarray, now: float):
    size = where.shard_size
    pipe = where.redis.pipeline(transaction=False)
    for col in (C.REGIONS[0], C.CHAIN, C.LANGUAGE):
        pipe.get(keys.column(shard, col.name))
    (targeted, suppressed), (reg, chain, lang) = await asyncio.gather(
        resolve_shard(where.redis, shard, target, size, now), pipe.execute())
    reg = C.decode(C.REGIONS[0], reg, size)
    chain = C.decode(C.CHAIN, chain, size)[targeted]
    lang = C.decode(C.LANGUAGE, lang, size)[targeted]
    first = _first_channels(chain, enabled)
    return reg[targeted] // _DISTRICT_DIV, reg[suppressed] // _DISTRICT_DIV, first, lang


def _by_district(targeted: np.ndarray, suppressed: np.ndarray) -> list[dict]:
    t_codes, t_counts = np.unique(targeted, return_counts=True)
    s_codes, s_counts = np.unique(suppressed, return_counts=True)
    rows: dict[int, dict] = {}
    for codes, counts, name in ((t_codes, t_counts, "targeted"), (s_codes, s_counts, "suppressed")):
        for code, n in zip(codes.tolist(), counts.tolist()):
            row = rows.setdefault(code, {"targeted": 0, "suppressed": 0})
            row[name] = n
    out = []
    for code, row in sorted(rows.items(), key=lambda kv: -kv[1]["targeted"]):
        text = f"{code:06d}" if code else "none"
        out.append({"code": text, "name": regions.name(text, "zh-CN") if code else None,
                    "name_en": regions.name(text, "en") if code else None, **row})
    return out


def _sms_cost(rec: AlertRecord, first: np.ndarray, lang: np.ndarray, signature: str) -> tuple[int, dict]:
    sms_ids = [C.CHANNEL_IDS[c] for c in SMS_CHANNELS]
    on_sms = np.isin(first, sms_ids)
    renderer = Renderer(signature)
    total, per_message = 0, {}
    for index, n in zip(*np.unique(lang[on_sms], return_counts=True)):
        language = C.LANGUAGES[int(index)]
        parts = segments(renderer.notice(rec, "sms", language).body)
        per_message[language] = parts
        total += parts * int(n)
    return total, per_message


async def estimate(where: Audience, rec: AlertRecord, now: float | None = None) -> dict:
    """Targeted and suppressed subscribers per district and per channel, and the SMS segments it costs."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    target = target_for(rec)
    enabled = np.array([C.CHANNEL_IDS[c] for c in where.channels if c in C.CHANNEL_IDS], dtype=np.uint16)
    parts = await asyncio.gather(*(_shard(where, target, s, enabled, now) for s in range(where.shard_count)))
    t_district = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.uint64)
    s_district = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.uint64)
    first = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.uint16)
    lang = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, np.uint8)
    ids, counts = np.unique(first, return_counts=True)
    by_channel = {C.CHANNEL_NAMES.get(int(i), "none"): int(n) for i, n in zip(ids, counts)}
    sms_segments, per_message = _sms_cost(rec, first, lang, where.sms_signature)
    return {
        "targeted": int(len(t_district)), "suppressed": int(len(s_district)),
        "by_district": _by_district(t_district, s_district), "by_channel": by_channel,
        "sms_segments": sms_segments, "sms_segments_per_message": per_message,
        "estimate_ms": round((time.perf_counter() - started) * 1000, 1),
    }
