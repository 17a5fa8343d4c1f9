"""SMS and webhook requests that get no answer are classified like every other HTTP adapter's."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from channels.base import Notice, Outcome, Reason, Recipient
from channels.http_errors import result_for_exception
from channels.sms import SmsChannel, SmsSettings
from channels.webhook import WebhookChannel


class FailingSession:
    """A client session whose every request raises ``exc`` (what the network does to a request)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def post(self, *args, **kwargs):
        return self

    async def __aenter__(self):
        raise self.exc

    async def __aexit__(self, *exc_info):
        return False

    async def close(self) -> None:
        pass


def notice() -> Notice:
    return Notice(alert_id=1, identifier="X-1", lang="en", title="Flood", body="Move to higher ground",
                  severity="Severe", urgency="Immediate", expires_at=time.time() + 3600, collapse_key="a1",
                  cap_xml=b"<alert/>")


EXCEPTIONS = [
    (asyncio.TimeoutError(), Outcome.RETRY, Reason.TIMEOUT),
    (aiohttp.ServerTimeoutError("read"), Outcome.RETRY, Reason.TIMEOUT),
    (aiohttp.ServerDisconnectedError(), Outcome.RETRY, Reason.CONNECTION),
    (aiohttp.ClientPayloadError("truncated"), Outcome.RETRY, Reason.CONNECTION),
    (ConnectionResetError(104, "reset by peer"), Outcome.RETRY, Reason.CONNECTION),
    (OSError(113, "no route to host"), Outcome.RETRY, Reason.CONNECTION),
    (aiohttp.TooManyRedirects(None, ()), Outcome.RETRY, Reason.UNKNOWN),
]


@pytest.mark.parametrize("exc, outcome, reason", EXCEPTIONS)
async def test_sms_transport_errors_use_the_shared_classification(exc, outcome, reason):
    ch = SmsChannel(SmsSettings(), session=FailingSession(exc))
    results = await ch.send(notice(), [Recipient(1, "+8613912345678"), Recipient(2, "+8613912345679")])
    expected = result_for_exception(exc)
    assert [(r.outcome, r.reason, r.detail) for r in results] == [(outcome, reason, expected.detail)] * 2
    assert results[0] is not results[1]


@pytest.mark.parametrize("exc, outcome, reason", EXCEPTIONS)
async def test_webhook_transport_errors_use_the_shared_classification(exc, outcome, reason):
    ch = WebhookChannel(("http://siren.example/hook",))
    ch.session = FailingSession(exc)
    [result] = await ch.send(notice(), [Recipient(0, "http://siren.example/hook")])
    assert (result.outcome, result.reason, result.detail) == (outcome, reason, result_for_exception(exc).detail)
