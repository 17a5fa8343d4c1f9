"""Shared steps of the households tests."""
from __future__ import annotations

import asyncio
import time

from dispatcher.api import context as ctx


async def drain(api) -> None:
    """Until Private deliveries and fan-outs queued so far are done."""
    for _ in range(3):
        await api.app[ctx.PRIVATE].drain()
        await api.drain()


async def until(pred, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(0.05)
    return False


def hms_token(i: int) -> str:
    return f"IQAAAACy0{i:012d}hmsTokenTest00AAAAAAAAAAAAAAAAAAAA"


async def inbox_ids(api, token: str) -> list[int]:
    status, inbox = await api.call("GET", "/api/v1/inbox", token)
    assert status == 200, inbox
    return [a["alert_id"] for a in inbox["alerts"]]
