"""The failover history: which channels each subscriber's delivery of an alert gave up on, in order.

One writer for every path that fails a subscriber over (a failed send, a missing
receipt, a failed receipt), so the history reads the same whichever moved it.
"""
from __future__ import annotations

import numpy as np

from . import keys
from .lua import Lua

#: Append a channel to the history of each offset (packed as uint16); a rare path.
NOTE_FAILOVER = """
for i = 1, #ARGV[2] - 1, 2 do
  local lo, hi = string.byte(ARGV[2], i, i + 1)
  local f = tostring(lo + hi * 256)
  local prev = redis.call('HGET', KEYS[1], f)
  redis.call('HSET', KEYS[1], f, prev and (prev .. ',' .. ARGV[1]) or ARGV[1])
end
return 1
"""


class FailoverHistory:
    def __init__(self, redis):
        self._note = Lua(redis, NOTE_FAILOVER)

    def queue(self, pipe, shard: int, alert_id: int, channel: str, offsets) -> None:
        """Append ``channel`` (a chain channel name) to each offset's history, in the caller's pipeline."""
        offs = np.asarray(offsets, dtype="<u2")
        if len(offs):
            self._note.queue(pipe, [keys.failed_channels(shard, alert_id)], [channel, offs.tobytes()])
