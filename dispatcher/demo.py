"""`warncast demo`: the whole system on one machine, end to end, in well under a minute.

Embedded Redis under var/demo (wiped at start), the API with in-process fan-out,
N synthetic subscribers over Beijing's 16 districts, simulated phones that hold
the in-app stream open and acknowledge through the API, the HMS push and SMS
gateway simulators (most subscribers on batch push, some SMS, some in-app only;
the SMS gateway posts signed delivery reports back), the bundled Beijing
rainstorm red warning published through the API, a live progress bar, and a
report of what every channel did.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loadtest.simulators.run import SimulatorSet
from subscribers import regions, synth
from subscribers.store import SubscriberStore

from . import cap
from .auth import KeyStore
from .cost import savings_text
from .report import reach, reach_lines, stats_table
from .server import start_server
from .settings import Settings
from .store import start_embedded

SAMPLES = Path(__file__).resolve().parent / "samples"
#: Beijing's bounding box, the geometry scope of the demo's issuer (south,west,north,east).
BEIJING_BBOX = "bbox:39.44,115.42,41.06,117.51"
console = Console(width=max(132, Console().width))


def sample_alert(name: str = "rainstorm_red.xml", now: datetime | None = None) -> bytes:
    """The bundled sample with fresh times and identifier (sent now, expiring in six hours)."""
    alert = cap.parse_xml((SAMPLES / name).read_bytes())
    now = (now or datetime.now(timezone(timedelta(hours=8)))).replace(microsecond=0)
    alert.sent, alert.sent_text = now, cap.format_datetime(now)
    alert.identifier = f"{alert.identifier.rsplit('-', 1)[0]}-{int(now.timestamp())}"
    for info in alert.infos:
        for attr in ("effective", "onset"):
            if getattr(info, attr):
                setattr(info, attr, now)
        info.expires = now + timedelta(hours=6)
    return cap.to_xml(alert)


class Device:
    """A phone: holds the in-app stream, acknowledges each alert delivered, read, and (most) confirmed."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str, confirm: bool):
        self.session, self.url, self.token, self.confirm = session, url, token, confirm
        self.received: list[int] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.get(f"{self.url}/api/v1/inbox/stream", headers=headers) as resp:
            self.ready.set()
            event = {}
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    event = orjson.loads(line[6:])
                elif line == "" and event:
                    self.received.append(event["alert_id"])
                    for status in ("delivered", "read") + (("confirmed",) if self.confirm else ()):
                        async with self.session.post(f"{self.url}/api/v1/receipts", headers=headers,
                                                     json={"alert_id": event["alert_id"], "status": status}):
                            pass
                    event = {}


def _sensor_settings() -> dict:
    """The demo's IoT platform key and a quick escalation poll (the demo's delays are seconds)."""
    from .demo_sensors import KEY, PLATFORM
    return {"sensor_keys": ((PLATFORM, KEY),), "escalation_poll_s": 0.2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_demo(n: int = 200_000, devices: int = 40, polygon: bool = False, *, shelters: bool = False,
                   sensors: bool = False) -> int:
    started = time.perf_counter()
    sims = await SimulatorSet(("hms", "sms")).start({"hms": 0, "sms": 0})
    port = free_port()
    os.environ.update(sims.env())
    os.environ["WARNCAST_SMS_CALLBACK_URL"] = f"http://127.0.0.1:{port}/callbacks/sms"
    # The simulators take whatever they are sent; a real deployment sets its providers' quotas.
    settings = dataclasses.replace(Settings.from_env(), channels=("hms", "sms"), sms_transport="http",
                                   rate_limits=(("hms", 1_000_000), ("sms", 1_000_000)),
                                   **(_sensor_settings() if sensors else {}))
    store = start_embedded(settings.data_dir / "demo")
    admin = store.sync()
    admin.flushall()
    admin.close()
    runner, url, app = await start_server(settings, store, port=port)
    redis = store.aio()
    session = aiohttp.ClientSession()
    tasks: list[asyncio.Task] = []
    try:
        ks = KeyStore(redis)
        issuer_key = await ks.create("beijing-meteorological-bureau", "issuer", ["11", BEIJING_BBOX])
        operator_key = await ks.create("demo-operator", "operator")

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("seeding subscribers", total=n)
            subs = SubscriberStore(redis, settings.shard_size)
            step = 20_000
            for i in range(0, n, step):
                await subs.write_many(synth.generate(min(step, n - i), seed=i, mix=synth.CHANNEL_MIX))
                progress.update(task, completed=min(n, i + step))

        phones = []
        districts = regions.district_codes()
        for i in range(devices):
            status_, body = await _post(session, f"{url}/api/v1/subscribers", None,
                                        {"regions": [districts[i % len(districts)]], "language": "zh-CN" if i % 4 else "en"})
            phones.append(Device(session, url, body["token"], confirm=i % 5 != 0))
        tasks = [asyncio.ensure_future(d.run()) for d in phones]
        await asyncio.wait_for(asyncio.gather(*(d.ready.wait() for d in phones)), 10)
        if not await _verify_sms_number(session, url, sims.sims["sms"]):
            return 1

        xml = sample_alert()
        t0 = time.perf_counter()
        async with session.post(f"{url}/api/v1/alerts", data=xml, headers={
                "Authorization": f"Bearer {issuer_key}", "Content-Type": "application/cap+xml"}) as resp:
            accepted = await resp.json()
            if resp.status != 202:
                console.print(f"[red]publish failed: {resp.status} {accepted}")
                return 1
        alert_id = accepted["id"]
        console.print(f"published alert {alert_id}: {accepted['headline']} ({accepted['severity']}, "
                      f"lane {accepted['lane']}) in {1000 * (time.perf_counter() - t0):.0f} ms")

        total = n + devices
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("delivering", total=total)
            while True:
                status_, body = await _get(session, f"{url}/api/v1/alerts/{alert_id}", operator_key)
                if status_ != 200:
                    console.print(f"[red]reading alert {alert_id} failed: {status_} {body}")
                    return 1
                s = body["stats"]
                progress.update(task, completed=s["totals"]["sent"] + s["totals"]["failed"], total=s["targeted"] or total)
                if body["lifecycle"] != "sending":
                    break
                await asyncio.sleep(0.1)
        fanout_s = time.perf_counter() - t0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alert_id not in d.received for d in phones):
            await asyncio.sleep(0.05)
        await sims.sims["sms"].drain_receipts()
        await _settle(session, url, operator_key, redis, alert_id, settings.shard_size)
        _, body = await _get(session, f"{url}/api/v1/alerts/{alert_id}", operator_key)
        stats = body["stats"]
        console.print(stats_table(stats, title=f"alert {alert_id} · {body['lifecycle']} · "
                                               f"published to every send in {fanout_s:.2f} s"))
        acked = sum(alert_id in d.received for d in phones)
        console.print(f"{acked}/{devices} simulated phones received it live and acknowledged; "
                      f"providers accepted: HMS {len(sims.ledger('hms')):,} "
                      f"(duplicates {sims.ledger('hms').duplicates()}), SMS {len(sims.ledger('sms')):,} "
                      f"(duplicates {sims.ledger('sms').duplicates()}); total demo time "
                      f"{time.perf_counter() - started:.1f} s")
        outcome = await reach(redis, alert_id, settings.shard_size)
        for line in reach_lines(outcome):
            console.print(line)
        console.print(savings_text(body["cost"]))
        ok = outcome.reached == outcome.targeted and acked == devices
        if not ok:
            console.print("[red]not every targeted subscriber was reached")
        if polygon:
            ok = await _polygon_alert(session, url, issuer_key, operator_key) and ok
        if shelters:
            from . import demo_shelters
            ok = await demo_shelters.run(session, url, issuer_key, operator_key, redis, settings,
                                         await subs.shard_count()) and ok
        if sensors:
            from . import demo_sensors
            ok = await demo_sensors.run(session, url, operator_key, Device) and ok
        return 0 if ok else 1
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
        await redis.aclose()
        await runner.cleanup()
        await sims.stop()
        store.close()


async def _polygon_alert(session, url: str, issuer_key: str, operator_key: str) -> bool:
    """Publish the bundled orange warning whose area is a polygon and a circle over the north-east of
    Beijing: it reaches located subscribers inside them (and in-area subscribers may decline it)."""
    xml = sample_alert("rainstorm_polygon.xml")
    async with session.post(f"{url}/api/v1/alerts", data=xml, headers={
            "Authorization": f"Bearer {issuer_key}", "Content-Type": "application/cap+xml"}) as resp:
        accepted = await resp.json()
        if resp.status != 202:
            console.print(f"[red]publishing the polygon alert failed: {resp.status} {accepted}")
            return False
    t0 = time.perf_counter()
    while True:
        _, body = await _get(session, f"{url}/api/v1/alerts/{accepted['id']}", operator_key)
        if body["lifecycle"] != "sending":
            break
        await asyncio.sleep(0.1)
    stats = body["stats"]
    console.print(stats_table(stats, title=f"alert {accepted['id']} · {body['headline']} · polygon and circle · "
                                           f"{body['lifecycle']} in {time.perf_counter() - t0:.2f} s"))
    return stats["totals"]["sent"] == stats["targeted"]


async def _settle(session, url: str, key: str, redis, alert_id: int, shard_size: int, timeout_s: float = 15) -> None:
    """Wait (bounded) for the last delivery reports to land and the failovers they cause to be sent."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, body = await _get(session, f"{url}/api/v1/alerts/{alert_id}", key)
        if body.get("lifecycle") != "sending" and not (await reach(redis, alert_id, shard_size)).pending:
            return
        await asyncio.sleep(0.1)


async def _verify_sms_number(session, url: str, gateway, number: str = "+8613912345678") -> bool:
    """One subscriber signs up with an SMS number in the app: the number is used only after the code
    the gateway delivered to that phone is typed back in."""
    status_, sub = await _post(session, f"{url}/api/v1/subscribers", None,
                               {"regions": ["110105"], "channels": ["sms", "inapp"], "endpoints": {"sms": number}})
    verify = f"{url}/api/v1/subscribers/{sub['id']}/sms:verify"
    status_, sent = await _post(session, verify, sub["token"], {})
    code = re.search(r"\b(\d{6})\b", gateway.last_text.get(number, "")) if status_ == 202 else None
    if code is None:
        console.print(f"[red]no verification code reached {number}: {status_} {sent}")
        return False
    status_, done = await _post(session, verify, sub["token"], {"code": code.group(1)})
    if status_ != 200:
        console.print(f"[red]verifying {number} failed: {status_} {done}")
        return False
    console.print(f"subscriber {sub['id']} registered SMS {sub['sms']['number']}: held until the one-time code "
                  f"sent through the SMS gateway was typed back in; channels now {done['channels']}")
    return True


async def _post(session, url, key, data):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with session.post(url, json=data, headers=headers) as resp:
        return resp.status, await resp.json()


async def _get(session, url, key):
    async with session.get(url, headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status, await resp.json()
