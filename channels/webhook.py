"""Forward each fanned-out alert to downstream systems (sirens, displays, media): the CAP 1.2 XML
itself, or (``fmt="json"``) a short JSON message rendered from ``templates/webhook`` for devices that
show text."""
from __future__ import annotations

import asyncio
import json
from typing import Sequence

import aiohttp

from . import netguard
from .http_errors import TRANSPORT_ERRORS, parse_retry_after, result_for_exception
from .base import Channel, Notice, Outcome, Reason, Recipient, Result


def classify_webhook(status: int, retry_after: str | None) -> Result:
    if 200 <= status < 300:
        return Result(Outcome.ACCEPTED)
    delay = parse_retry_after(retry_after)
    if status == 429:
        return Result(Outcome.RETRY, Reason.THROTTLED, retry_after_s=delay, detail=str(status))
    if status >= 500:
        return Result(Outcome.RETRY, Reason.SERVER_ERROR, retry_after_s=delay, detail=str(status))
    if status in (401, 403):
        return Result(Outcome.PERMANENT, Reason.AUTH, detail=str(status))
    if status in (404, 410):
        return Result(Outcome.GONE, Reason.UNREGISTERED, detail=str(status))
    return Result(Outcome.PERMANENT, Reason.BAD_REQUEST, detail=str(status))


class WebhookChannel(Channel):
    name = "webhook"
    max_batch = 64
    max_body_bytes = 1 << 20
    max_rate_per_s = 100
    max_in_flight = 16
    has_receipts = False
    timeout_s = 10.0

    def __init__(self, urls: Sequence[str] = (), fmt: str = "cap"):
        if fmt not in ("cap", "json"):
            raise ValueError(f"WARNCAST_WEBHOOK_FORMAT must be cap or json, not {fmt!r}")
        self.urls = tuple(urls)
        self.fmt = fmt
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                             connector=netguard.connector())

    async def close(self) -> None:
        if self.session:
            await self.session.close()

    def _body(self, notice: Notice) -> tuple[bytes, str]:
        if self.fmt == "json":
            return json.dumps({"alert_id": notice.alert_id, "identifier": notice.identifier, "msgType": notice.msg_type,
                               "severity": notice.severity, "urgency": notice.urgency, "title": notice.title,
                               "body": notice.body, "expires_at": notice.expires_at}, ensure_ascii=False).encode(), \
                "application/json; charset=utf-8"
        return notice.cap_xml, "application/cap+xml; charset=utf-8"

    async def _post(self, notice: Notice, url: str) -> Result:
        body, ctype = self._body(notice)
        try:
            async with self.session.post(url, data=body, headers={"Content-Type": ctype}) as resp:
                return classify_webhook(resp.status, resp.headers.get("Retry-After"))
        except TRANSPORT_ERRORS as exc:
            return result_for_exception(exc)

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        if self.session is None:
            await self.open()
        return list(await asyncio.gather(*(self._post(notice, r.endpoint) for r in recipients)))
