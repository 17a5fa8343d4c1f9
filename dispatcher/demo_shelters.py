"""`warncast demo --shelters`: import the synthetic shelters, publish a Shelter warning for all of
Beijing, and report how many of the subscribers it reached have a nearest open shelter (those with a
location) and how far it is (median)."""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson
from rich.console import Console

from . import keys
from .delivery import REACHED, states
from .nearest import nearest
from .shelter_guidance import coordinates
from .shelters import ShelterStore, kinds_for
from . import cap

SAMPLE = Path(__file__).parent / "samples" / "shelters_beijing_synthetic.csv"
console = Console()


def shelter_warning(now: datetime | None = None) -> dict:
    """An orange rainstorm warning for Beijing that tells people to shelter (CAP JSON)."""
    now = (now or datetime.now(timezone(timedelta(hours=8)))).replace(microsecond=0)
    expires = now + timedelta(hours=6)
    area = {"geocode": [{"valueName": "GB/T 2260", "value": "11"}]}
    info = [{"language": lang, "category": ["Met"], "event": event, "responseType": ["Shelter"],
             "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "expires": expires.isoformat(),
             "senderName": name, "headline": headline, "instruction": instruction,
             "area": [{**area, "areaDesc": desc}]}
            for lang, event, name, headline, instruction, desc in (
                ("zh-CN", "暴雨", "北京市气象台", "暴雨橙色预警：请前往避难场所", "低洼地区居民请立即前往最近的避难场所。", "北京市"),
                ("en-US", "Rainstorm", "Beijing Meteorological Observatory", "Orange rainstorm warning: go to a shelter",
                 "People in low-lying areas: go to the nearest shelter now.", "Beijing"))]
    return {"identifier": f"bjmb-shelter-{uuid.uuid4().hex[:12]}", "sender": "bjmb@cma.gov.cn",
            "sent": now.isoformat(), "status": "Actual", "msgType": "Alert", "scope": "Public", "info": info}


async def shelter_figures(redis, store: ShelterStore, alert_id: int, alert: cap.Alert, shards: int,
                          size: int) -> dict:
    """Of the subscribers the alert reached: how many have a nearest open shelter, and its median distance."""
    t0 = time.perf_counter()
    reached, distances = 0, []
    arrays = await store.arrays()
    for shard in range(shards):
        st = states(await redis.get(keys.delivery_state(shard, alert_id)), size)
        offsets = np.flatnonzero(np.isin(st, list(REACHED)))
        reached += len(offsets)
        located, lat, lon = coordinates(await redis.get(keys.geo_coords(shard)), offsets)
        found = nearest(lat[located], lon[located], arrays, 1, kinds_for(alert))
        distances.append(found.km[found.index[:, 0] >= 0, 0])
    km = np.concatenate(distances) if distances else np.empty(0)
    return {"reached": reached, "with_shelter": int(len(km)), "median_km": float(np.median(km)) if len(km) else None,
            "compute_ms": (time.perf_counter() - t0) * 1000}


async def run(session, url: str, issuer_key: str, operator_key: str, redis, settings, shards: int) -> bool:
    async with session.post(f"{url}/api/v1/shelters:import", data=SAMPLE.read_bytes(), headers={
            "Authorization": f"Bearer {operator_key}", "Content-Type": "text/csv"}) as resp:
        imported = await resp.json()
    console.print(f"imported {imported.get('imported')} synthetic shelters")
    doc = shelter_warning()
    async with session.post(f"{url}/api/v1/alerts", data=orjson.dumps(doc), headers={
            "Authorization": f"Bearer {issuer_key}", "Content-Type": "application/json"}) as resp:
        accepted = await resp.json()
        if resp.status != 202:
            console.print(f"[red]publishing the shelter warning failed: {resp.status} {accepted}")
            return False
    while True:
        async with session.get(f"{url}/api/v1/alerts/{accepted['id']}",
                               headers={"Authorization": f"Bearer {operator_key}"}) as resp:
            body = await resp.json()
        if body["lifecycle"] != "sending":
            break
        await asyncio.sleep(0.1)
    figures = await shelter_figures(redis, ShelterStore(redis), accepted["id"], cap.parse_json(doc), shards,
                                    settings.shard_size)
    median = f"{figures['median_km']:.2f} km" if figures["median_km"] is not None else "—"
    console.print(f"shelter warning {accepted['id']} ({body['lifecycle']}): reached {figures['reached']:,}; "
                  f"{figures['with_shelter']:,} located subscribers have a nearest open shelter, median distance "
                  f"{median} (computed in {figures['compute_ms']:.0f} ms)")
    return figures["with_shelter"] > 0
