"""What `warncast serve` says when it starts: which channels are on, and who they leave in-app only."""
from __future__ import annotations

import numpy as np

from subscribers import columns as C

from . import keys
from .settings import Settings

PROVIDERS = tuple(name for name in C.CHANNEL_IDS if name not in ("inapp", "smpp"))


async def fallback_count(redis, shard_size: int, enabled: tuple[str, ...]) -> int:
    """Subscribers whose channel chain names a provider channel that is off: they are reached in-app
    (or by the next channel of theirs that is on). Two GETs per shard."""
    off_ids = [C.CHANNEL_IDS[name] for name in PROVIDERS if name not in enabled]
    seq = int(await redis.get(keys.SUBSCRIBER_SEQ) or 0)
    total = 0
    for shard in range((seq + shard_size - 1) // shard_size):
        pipe = redis.pipeline(transaction=False)
        pipe.get(keys.column(shard, C.CHAIN.name))
        pipe.get(keys.column(shard, C.FLAGS.name))
        raw_chain, raw_flags = await pipe.execute()
        chain = np.frombuffer(raw_chain or b"", dtype=C.CHAIN.dtype)
        flags = np.frombuffer(raw_flags or b"", dtype=C.FLAGS.dtype)
        n = min(len(chain), len(flags))
        chain, exists = chain[:n], (flags[:n] & C.EXISTS) != 0
        wants_off = np.zeros(n, dtype=bool)
        for shift in range(0, 4 * C.MAX_CHAIN, 4):
            wants_off |= np.isin((chain >> shift) & 0xF, off_ids)
        total += int(np.count_nonzero(wants_off & exists))
    return total


def channels_notice(settings: Settings, fallback: int) -> str:
    """One line for the operator: the channels in use and how many subscribers lose one they chose."""
    on = [c for c in settings.channels if c in PROVIDERS]
    if not on:
        head = ("channels: in-app only; provider channels are off until WARNCAST_CHANNELS names them "
                "(hms,fcm,apns,webpush,sms)")
    else:
        head = f"channels: {', '.join(on)} and in-app"
    if fallback:
        head += (f"; {fallback:,} subscriber{'s' if fallback != 1 else ''} chose a channel that is off "
                 "and will be reached in-app instead" if not on else
                 f"; {fallback:,} subscriber{'s' if fallback != 1 else ''} chose a channel that is off "
                 "and will be reached by their next one")
    return head
