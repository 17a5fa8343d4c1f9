"""In-app delivery: the alert goes to the subscriber's inbox and live stream.

A send publishes one message per batch on a Redis channel; every API process
holding streams picks out its own connected subscribers from it. The inbox
itself is the delivery state: an alert is in a subscriber's inbox once their
state for it is ``sent`` or later.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dispatcher import keys

from .base import ACCEPTED, Channel, Notice, Recipient, Result


def pack(alert_id: int, subscriber_ids: np.ndarray) -> bytes:
    return alert_id.to_bytes(8, "little") + np.asarray(subscriber_ids, dtype="<u4").tobytes()


def unpack(message: bytes) -> tuple[int, np.ndarray]:
    return int.from_bytes(message[:8], "little"), np.frombuffer(message[8:], dtype="<u4")


class InappChannel(Channel):
    name = "inapp"
    max_batch = 8_192
    max_body_bytes = 64 * 1024
    max_rate_per_s = 1_000_000
    max_in_flight = 4
    has_receipts = True          #: devices acknowledge through POST /api/v1/receipts
    receipt_timeout_s = 120.0

    def __init__(self, redis):
        self.redis = redis

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        return await self.send_columns(notice, [r.subscriber_id for r in recipients], ())

    async def send_columns(self, notice: Notice, subscriber_ids: Sequence[int],
                           endpoints: Sequence[str]) -> list[Result]:
        await self.redis.publish(keys.INAPP_CHANNEL, pack(notice.alert_id, np.asarray(subscriber_ids)))
        return [ACCEPTED] * len(subscriber_ids)
