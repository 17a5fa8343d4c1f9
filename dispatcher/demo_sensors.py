"""`warncast demo --sensors`: carbon-monoxide alarms in three synthetic homes.

Each home has two members with phones holding the in-app stream. In two homes a member confirms
the alarm; in the third nobody does, so after the household's (short, demo) delay its building
manager is alerted with a CAP Update. Then the readings fall and every home gets its all-clear.
"""
from __future__ import annotations

import asyncio
import time

import orjson
from rich.console import Console
from rich.table import Table

from .sensor_auth import sign

PLATFORM, KEY = "demo-platform", "demo-platform-key-not-a-secret-0001"
#: Seconds the members of the silent home have before their building manager is alerted.
DEMO_DELAY_S = 2
console = Console(width=max(132, Console().width))


async def _post(session, url, key, data):
    async with session.post(url, json=data, headers={"Authorization": f"Bearer {key}"} if key else {}) as resp:
        return resp.status, await resp.json()


async def _readings(session, url: str, values: dict[str, float], batch_id: str) -> dict:
    body = orjson.dumps({"batch_id": batch_id, "events": [{"device_id": d, "value": v} for d, v in values.items()]})
    ts = str(int(time.time()))
    async with session.post(f"{url}/api/v1/sensors/events", data=body, headers={
            "X-Warncast-Platform": PLATFORM, "X-Warncast-Timestamp": ts, "Content-Type": "application/json",
            "X-Warncast-Signature": sign(KEY, ts, body)}) as resp:
        return await resp.json()


async def _home(session, url: str, operator_key: str, n: int, confirms: bool, phone_cls, manager: dict) -> dict:
    """Two members with phones (who confirm, or not), a building manager as first contact, a CO detector."""
    members, phones = [], []
    for i in range(2):
        _, sub = await _post(session, f"{url}/api/v1/subscribers", None, {"regions": ["110105"], "language": "zh-CN"})
        members.append(sub)
        phones.append(phone_cls(session, url, sub["token"], confirm=confirms and i == 0))
    _, home = await _post(session, f"{url}/api/v1/households", operator_key, {
        "name": f"朝阳区 演示小区 {n}号楼 501", "region": "110105", "members": [m["id"] for m in members],
        "delay_s": DEMO_DELAY_S, "contacts": [{"subscriber_id": manager["id"], "delay_s": 60, "name": "楼管"},
                                              {"sms": "+8613900001111", "delay_s": 120, "name": "社区居委会"}]})
    device = f"co-demo-{home['id']}"
    await _post(session, f"{url}/api/v1/devices", operator_key,
                {"id": device, "household": home["id"], "kind": "co", "location": "厨房"})
    return {"home": home, "members": members, "phones": phones, "device": device, "confirms": confirms}


async def _until(pred, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(0.1)
    return False


async def run(session, url: str, operator_key: str, phone_cls) -> bool:
    """The sensor part of the demo; True if every home was alarmed, two confirmed, one escalated, all cleared."""
    _, manager = await _post(session, f"{url}/api/v1/subscribers", None, {"regions": ["110105"], "language": "zh-CN"})
    manager_phone = phone_cls(session, url, manager["token"], confirm=False)
    homes = [await _home(session, url, operator_key, n, n != 3, phone_cls, manager) for n in (1, 2, 3)]
    phones = [manager_phone] + [p for h in homes for p in h["phones"]]
    tasks = [asyncio.ensure_future(p.run()) for p in phones]
    try:
        await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in phones)), 10)
        t0 = time.perf_counter()
        raised = await _readings(session, url, {h["device"]: 180.0 for h in homes}, f"demo-{time.time_ns()}")
        roots = {a["device_id"]: a["alert_id"] for a in raised["alerts"]}
        console.print(f"CO detectors in {len(homes)} homes read 180 ppm: {len(roots)} Private alarms "
                      f"(one per home, to its members only, every channel at once)")

        async def escalated() -> bool:
            return len(manager_phone.received) > 0
        ok = await _until(escalated, 10 + 3 * DEMO_DELAY_S)
        esc_s = time.perf_counter() - t0
        cleared = await _readings(session, url, {h["device"]: 8.0 for h in homes}, f"demo-{time.time_ns()}")
        await _until(lambda: _all_received(homes, cleared), 10)
        ok = await _report(session, url, operator_key, homes, roots, esc_s if ok else None, cleared) and ok
        return ok
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _all_received(homes: list[dict], cleared: dict) -> bool:
    ids = {a["alert_id"] for a in cleared["alerts"]}
    return all(any(i in p.received for i in ids) for h in homes for p in h["phones"])


async def _report(session, url, operator_key, homes, roots, esc_s, cleared) -> bool:
    table = Table(title="household alarms · carbon monoxide, 180 ppm")
    for col in ("home", "alarm", "members reached", "confirmed by", "escalation", "all-clear"):
        table.add_column(col)
    ok = True
    clear_ids = {a["device_id"]: a["alert_id"] for a in cleared["alerts"]}
    for h in homes:
        root = roots.get(h["device"])
        async with session.get(f"{url}/api/v1/alerts/{root}", headers={"Authorization": f"Bearer {operator_key}"}) as r:
            body = await r.json()
        esc = body.get("escalation") or {}
        reached = sum(root in p.received for p in h["phones"])
        steps = ", ".join(f"{s['name']} (alert {s['alert_id']})" for s in esc.get("steps", [])) or "—"
        who = str(esc.get("confirmed_by", "—"))
        table.add_row(h["home"]["name"], str(root), f"{reached}/{len(h['phones'])}", who,
                      f"{esc.get('state', '—')}: {steps}", str(clear_ids.get(h["device"], "—")))
        ok = ok and reached == len(h["phones"]) and (esc.get("state") in ("confirmed", "cleared") if h["confirms"]
                                                      else bool(esc.get("steps")))
    console.print(table)
    if esc_s is not None:
        console.print(f"nobody in {homes[-1]['home']['name']} confirmed within {DEMO_DELAY_S} s: its building manager "
                      f"was alerted with a CAP Update {esc_s:.1f} s after the alarm")
    else:
        console.print("[red]the silent home's alarm was not escalated")
    return ok and esc_s is not None and len(clear_ids) == len(homes)
