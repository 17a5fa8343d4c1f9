"""One channel identity: a channel of a subscriber's chain and the adapter that serves it.

A subscriber lists ``sms``; the SMPP adapter (``smpp``) may serve it. The chain
channel's name and id are what delivery state, failover positions, receipt
checks, counters, attempt limits and quotas use; the adapter's name is what the
provider knows (its circuit, its message ids). ``Via`` carries both together so
no step compares one with the other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channels.base import Channel
from subscribers import columns as C

#: Adapters that serve a chain channel of another name.
ADAPTER_SERVES = {"smpp": "sms"}


@dataclass(frozen=True)
class Via:
    name: str            #: the chain channel ("sms"): states, counters, limits, failover
    id: int              #: its id in the subscriber's chain column
    adapter: Channel     #: the adapter serving it (``adapter.name`` may be "smpp")

    @property
    def provider(self) -> str:
        """The adapter's name: its circuit and its provider message ids."""
        return self.adapter.name

    @property
    def guarded(self) -> bool:
        """Sends through an outside provider (circuit, quota, endpoints); in-app is our own."""
        return self.name != "inapp"


def vias(channels: dict[str, Channel]) -> dict[str, Via]:
    """``Via`` per chain channel from the adapters keyed by the chain channel they serve."""
    return {name: Via(name, C.CHANNEL_IDS.get(name, 0), ch) for name, ch in channels.items()}


def has_next(chain: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Per subscriber: whether its chain lists a channel after the one it used (``used`` = chain id)."""
    out = np.zeros(len(chain), dtype=bool)
    for i in range(C.MAX_CHAIN - 1):
        out |= (((chain >> (4 * i)) & 0xF) == used) & (((chain >> (4 * (i + 1))) & 0xF) != 0) & (used > 0)
    return out


def chain_name(adapter_name: str) -> str:
    """The chain channel an adapter's receipts count towards ("smpp" → "sms")."""
    return ADAPTER_SERVES.get(adapter_name, adapter_name)


def provider_rate_limits(rate_limits: dict[str, int], channels: dict[str, Channel]) -> dict[str, int]:
    """Quotas set per chain channel (``sms=2000``) also under the adapter that serves it."""
    out = dict(rate_limits)
    for name, limit in rate_limits.items():
        ch = channels.get(name)
        if ch is not None and ch.name != name:
            out.setdefault(ch.name, limit)
    return out
