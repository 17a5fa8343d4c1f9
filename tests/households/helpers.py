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


KEY = "test-platform-key-0123456789abcdef"


async def post_events(api, events, batch_id=None, *, platform="acme", key=KEY, ts=None, signature=None):
    """A signed batch as an IoT platform posts it: (status, body)."""
    import orjson

    from dispatcher.sensor_auth import sign
    batch_id = batch_id or f"b-{next(_batches)}-{time.time_ns()}"
    body = orjson.dumps({"batch_id": batch_id, "events": events})
    ts = str(int(time.time())) if ts is None else ts
    headers = {"X-Warncast-Platform": platform, "X-Warncast-Timestamp": ts, "Content-Type": "application/json",
               "X-Warncast-Signature": signature or sign(key, ts, body)}
    return await api.call("POST", "/api/v1/sensors/events", None, data=body, headers=headers)


def _counter():
    n = 0
    while True:
        n += 1
        yield n


_batches = _counter()


async def home(api, members=2, contacts=None, delay_s=60, **member_fields):
    """A household with a CO detector "co-<id>": (household, member subscribers, device id)."""
    subs = [await api.register(regions=["110105"], **member_fields) for _ in range(members)]
    status, h = await api.call("POST", "/api/v1/households", "operator", json={
        "name": "朝阳区 3-2-501", "region": "110105", "members": [s["id"] for s in subs], "delay_s": delay_s,
        "contacts": contacts or []})
    assert status == 201, h
    device = f"co-{h['id']}"
    status, d = await api.call("POST", "/api/v1/devices", "operator", json={
        "id": device, "household": h["id"], "kind": "co", "location": "厨房"})
    assert status == 201, d
    return h, subs, device
