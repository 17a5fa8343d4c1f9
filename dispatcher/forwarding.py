"""CAP forwarding to downstream systems (sirens, displays, media): the webhook channel gets the alert
once, beside the fan-out to subscribers, and its outcome is counted under ``webhook``."""
from __future__ import annotations

from channels.base import Channel, Recipient

from .alerts import AlertRecord
from .delivery import State, count
from .render import Renderer


async def forward_to_webhooks(redis, channel: Channel, renderer: Renderer, rec: AlertRecord, language: str) -> None:
    urls = getattr(channel, "urls", ())
    if not urls:
        return
    notice = renderer.notice(rec, "webhook", language)
    results = await channel.send(notice, [Recipient(0, u) for u in urls])
    pipe = redis.pipeline(transaction=False)
    count(pipe, rec.id, "webhook", State.SENT, sum(r.ok for r in results))
    count(pipe, rec.id, "webhook", State.FAILED, sum(not r.ok for r in results))
    await pipe.execute()
