"""The failover history: which channels each subscriber's delivery of an alert gave up on, in order,
and why (the provider's reason, which the operator's drill-down lists subscribers by).

One writer for every path that fails a subscriber over (a failed send, a missing
receipt, a failed receipt), so the history reads the same whichever moved it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from . import keys
from .lua import Lua

#: Append a channel to the history of each offset (packed as uint16), and "<channel>:<reason>" to its
#: reasons; a rare path.
NOTE_FAILOVER = """
local why = ARGV[1] .. ':' .. ARGV[3]
for i = 1, #ARGV[2] - 1, 2 do
  local lo, hi = string.byte(ARGV[2], i, i + 1)
  local f = tostring(lo + hi * 256)
  local prev = redis.call('HGET', KEYS[1], f)
  redis.call('HSET', KEYS[1], f, prev and (prev .. ',' .. ARGV[1]) or ARGV[1])
  prev = redis.call('HGET', KEYS[2], f)
  redis.call('HSET', KEYS[2], f, prev and (prev .. ',' .. why) or why)
end
return 1
"""
UNKNOWN = "unknown"


class FailoverHistory:
    def __init__(self, redis):
        self._note = Lua(redis, NOTE_FAILOVER)

    def queue(self, pipe, shard: int, alert_id: int, channel: str, offsets, reason: str = UNKNOWN) -> None:
        """Append ``channel`` (a chain channel name) and ``reason`` to each offset's history, in the
        caller's pipeline."""
        offs = np.asarray(offsets, dtype="<u2")
        if len(offs):
            self._note.queue(pipe, [keys.failed_channels(shard, alert_id), keys.failure_reasons(shard, alert_id)],
                             [channel, offs.tobytes(), reason])

    def queue_by_reason(self, pipe, shard: int, alert_id: int, channel: str,
                        offsets_by_reason: Mapping[str, Sequence[int]]) -> None:
        """``queue`` once per reason (a batch fails over for a few reasons at most)."""
        for reason, offs in offsets_by_reason.items():
            self.queue(pipe, shard, alert_id, channel, sorted(offs), reason)
