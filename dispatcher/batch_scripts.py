"""A batch's Redis work as two scripts over packed offsets: the claim before the send, the record after.

Each script takes the batch's offsets as one argument (little-endian uint16) and does every
per-subscriber step inside Redis, so a batch of a thousand costs the fan-out process a handful of
arguments to pack and Redis one script call, not a command or an argument per subscriber.

- ``CLAIM``: renew the shard's lease, read the alert's lifecycle and move the batch
  ``targeted/queued/failover → sending`` (their channel byte set) in one atomic step; a stopped alert
  has the batch moved to ``cancelled`` instead, a lost lease claims nothing.
- ``RECORD``: move the claimed subscribers ``sending → sent / failover / expired / queued`` and add the
  counters, each by how many actually moved, in one atomic step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .alerts import STOPPED
from .delivery import ALLOWED_FROM, TRANSITION_FN, State, mask
from .lua import Lua

#: KEYS: lease, alert hash, state string, channel string. ARGV: lease token, lease ms, channel byte,
#: offsets, " stopped lifecycles ". Returns {lease held (0/1), stopped (0/1), offsets moved (packed)}.
CLAIM = TRANSITION_FN + """
local held = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  held = 1
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local life = redis.call('HGET', KEYS[2], 'lifecycle')
if life and string.find(ARGV[5], ' ' .. life .. ' ', 1, true) then
  return {held, 1, transition(KEYS[3], KEYS[4], %(cancelled)d, %(cancel_from)d, 0, ARGV[4])}
end
if held == 0 then return {0, 0, ''} end
return {1, 0, transition(KEYS[3], KEYS[4], %(sending)d, %(claim_from)d, tonumber(ARGV[3]), ARGV[4])}
""" % {"cancelled": State.CANCELLED, "cancel_from": mask(ALLOWED_FROM[State.SENDING]),
       "sending": State.SENDING, "claim_from": mask(ALLOWED_FROM[State.SENDING])}

#: The outcome groups of a record, in ARGV order.
GROUPS = (State.SENT, State.FAILOVER, State.EXPIRED, State.QUEUED)

#: KEYS: state string, then the hashes counters go to. ARGV: one packed offset list per group of
#: ``GROUPS``, then counter triples (group bits, hash = index into KEYS, field): each adds the number
#: moved into the groups its bits name (bit i = GROUPS[i]); bits 0 adds the fixed number after the
#: field instead (4 values then). Returns the number moved per group.
RECORD = TRANSITION_FN + """
local states = {%(states)s}
local moved = {}
for g = 1, #states do
  moved[g] = #transition(KEYS[1], KEYS[1], states[g], %(from)d, 0, ARGV[g]) / 2
end
local i = #states + 1
while i <= #ARGV do
  local bits, hash, field = tonumber(ARGV[i]), KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2]
  local n = 0
  if bits == 0 then
    n = tonumber(ARGV[i + 3])
    i = i + 4
  else
    for g = 1, #states do
      if bit.band(bits, bit.lshift(1, g - 1)) ~= 0 then n = n + moved[g] end
    end
    i = i + 3
  end
  if n > 0 then redis.call('HINCRBY', hash, field, n) end
end
return moved
""" % {"states": ", ".join(str(int(s)) for s in GROUPS), "from": mask((State.SENDING,))}

#: " cancelled superseded expired ": the lifecycles that stop a claim.
STOPPED_ARG = " " + " ".join(lc.value for lc in STOPPED) + " "


def packed(offsets) -> bytes:
    return np.asarray(offsets, dtype="<u2").tobytes()


@dataclass
class Claimed:
    held: bool
    stopped: bool
    offsets: np.ndarray


class BatchScripts:
    """The claim and the record of one batch, each one script call in the caller's pipeline."""

    def __init__(self, redis):
        self._claim = Lua(redis, CLAIM)
        self._record = Lua(redis, RECORD)

    def queue_claim(self, pipe, keys_: Sequence[str], token: str, lease_ms: int, channel_id: int,
                    offsets) -> None:
        """KEYS: lease, alert hash, state string, channel string."""
        self._claim.queue(pipe, keys_, [token, lease_ms, channel_id, packed(offsets), STOPPED_ARG])

    @staticmethod
    def claimed(reply) -> Claimed:
        held, stopped, moved = reply
        return Claimed(bool(held), bool(stopped), np.frombuffer(moved or b"", dtype="<u2").astype(np.int64))

    def queue_record(self, pipe, state_key: str, groups: Sequence[Sequence[int]], hashes: Sequence[str],
                     counters: Sequence[tuple]) -> None:
        """``groups``: offsets per ``GROUPS`` entry; ``counters``: (group bits, hash index from 0, field)
        or (0, hash index, field, n)."""
        args: list = [packed(sorted(g)) for g in groups]
        for c in counters:
            args += [c[0], c[1] + 2, *c[2:]]
        self._record.queue(pipe, [state_key, *hashes], args)
