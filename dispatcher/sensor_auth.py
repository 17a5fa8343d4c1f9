"""Signed sensor batches: who sent them (HMAC-SHA256 per platform key), when, and only once.

A platform signs ``<timestamp>.<body>`` with its key and sends

    X-Warncast-Platform: <platform name>
    X-Warncast-Timestamp: <unix seconds>
    X-Warncast-Signature: sha256=<hex HMAC-SHA256>

A batch whose timestamp is further than the window from now is refused (401), as is one whose
``batch_id`` was already taken inside the window (409): a captured request cannot be replayed.
The signature is compared in constant time; keys never reach a log or an error.
"""
from __future__ import annotations

import hashlib
import hmac
import math

from . import keys
from .errors import Conflict, Unauthorized


def sign(key: str, timestamp: str, body: bytes) -> str:
    """The X-Warncast-Signature value for a body (platforms, tests, the benchmark and the demo)."""
    mac = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(platform_keys: dict[str, str], headers, body: bytes, now: float, window_s: int) -> str:
    """The platform that signed the batch; Unauthorized naming the header at fault otherwise."""
    platform = headers.get("X-Warncast-Platform", "")
    key = platform_keys.get(platform)
    if key is None:
        raise Unauthorized("unknown sensor platform", [{"field": "X-Warncast-Platform",
                                                       "message": "not a platform with a key here"}])
    raw_ts = headers.get("X-Warncast-Timestamp", "")
    try:
        ts = float(raw_ts) if len(raw_ts) < 32 else math.nan
    except ValueError:
        ts = math.nan
    if not math.isfinite(ts):
        raise Unauthorized("X-Warncast-Timestamp must be unix seconds",
                           [{"field": "X-Warncast-Timestamp", "message": "unix seconds"}])
    if abs(now - ts) > window_s:
        raise Unauthorized(f"the batch's timestamp is more than {window_s} s from now",
                           [{"field": "X-Warncast-Timestamp", "message": f"outside the {window_s} s window"}])
    given = headers.get("X-Warncast-Signature", "")
    if not hmac.compare_digest(given.encode(), sign(key, raw_ts, body).encode()):
        raise Unauthorized("the signature does not match the body",
                           [{"field": "X-Warncast-Signature", "message": "sha256=<hex HMAC-SHA256 of 'timestamp.body'>"}])
    return platform


async def take_batch(redis, platform: str, batch_id: str, window_s: int) -> None:
    """Remember the batch id for the window (twice over, for both clock skews); a second one is a replay."""
    if not await redis.set(keys.sensor_batch(platform, batch_id), 1, nx=True, ex=2 * window_s):
        await redis.hincrby(keys.SECURITY_COUNTERS, "sensor_replay", 1)
        raise Conflict(f"batch {batch_id[:64]} was already received; a batch is taken once",
                       [{"field": "batch_id", "message": "replayed"}])
