"""Every inbox entry says where its alert stands: active, updated by N, cancelled, expired; a reconnecting
stream replays what was missed; Shelter/Evacuate warnings carry the nearest open shelters."""
import asyncio
from pathlib import Path

import orjson

from tests.factories import cap_json, reference

SAMPLE = Path(__file__).resolve().parents[2] / "dispatcher" / "samples" / "shelters_beijing_synthetic.csv"


def _by_id(inbox: dict) -> dict[int, dict]:
    return {a["alert_id"]: a for a in inbox["alerts"]}


async def test_cancelled_and_updated_alerts_say_so(api):
    sub = await api.register(regions=["110105"], language="en")
    cancelled_doc, updated_doc = cap_json(codes=["110105"]), cap_json(codes=["110105"])
    _, cancelled = await api.publish(cancelled_doc)
    _, updated = await api.publish(updated_doc)
    _, plain = await api.publish(cap_json(codes=["110105"]))
    await api.drain()
    _, cancel = await api.call("POST", f"/api/v1/alerts/{cancelled['id']}/cancel", "issuer")
    _, update = await api.publish(cap_json(codes=["110105"], msg_type="Update", references=[reference(updated_doc)]))
    await api.drain()
    _, inbox = await api.call("GET", "/api/v1/inbox", sub["token"])
    items = _by_id(inbox)
    assert (items[cancelled["id"]]["lifecycle"], items[cancelled["id"]]["cancelled_by"]) == ("cancelled", cancel["id"])
    assert items[cancelled["id"]]["state"] == "sent"            # delivery state, now beside the lifecycle
    assert (items[updated["id"]]["lifecycle"], items[updated["id"]]["updated_by"]) == ("updated", update["id"])
    assert items[plain["id"]]["lifecycle"] == "active"
    assert items[cancel["id"]]["references"] == [cancelled["id"]] and items[cancel["id"]]["msgType"] == "Cancel"
    assert items[update["id"]]["lifecycle"] == "active"


async def test_an_expired_alert_says_expired(api):
    sub = await api.register(regions=["110105"])
    _, alert = await api.publish(cap_json(codes=["110105"], expires_in=1.5))
    await api.drain()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        _, inbox = await api.call("GET", "/api/v1/inbox", sub["token"])
        item = _by_id(inbox).get(alert["id"])
        if item is None or item["lifecycle"] == "expired" or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert item is not None and item["lifecycle"] == "expired"


async def _events(resp, n: int) -> list[tuple[int, dict]]:
    out, eid, data = [], None, None
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("id: "):
            eid = int(line[4:])
        elif line.startswith("data: "):
            data = orjson.loads(line[6:])
        elif line == "" and data is not None:
            out.append((eid, data))
            data = None
            if len(out) == n:
                return out
    return out


async def test_a_reconnecting_stream_replays_what_was_missed(api):
    sub = await api.register(regions=["110105"])
    _, first = await api.publish(cap_json(codes=["110105"]))
    _, second = await api.publish(cap_json(codes=["110105"]))
    await api.drain()
    headers = {**api.headers(sub["token"]), "Last-Event-ID": str(first["id"])}
    async with api.session.get(api.url + "/api/v1/inbox/stream", headers=headers) as resp:
        (event,) = await asyncio.wait_for(_events(resp, 1), 5)
    assert event[0] == second["id"] and event[1]["alert_id"] == second["id"]


async def test_a_shelter_warning_names_the_nearest_open_shelters(api):
    await api.call("POST", "/api/v1/shelters:import", "operator", data=SAMPLE.read_bytes(),
                   headers={"Content-Type": "text/csv"})
    located = await api.register(regions=["110105"], language="en", location={"lat": 39.92, "lon": 116.44})
    zh = await api.register(regions=["110105"])
    _, alert = await api.publish(cap_json(codes=["110105"], response_types=["Shelter"]))
    _, other = await api.publish(cap_json(codes=["110105"]))
    await api.drain()
    _, inbox = await api.call("GET", "/api/v1/inbox", located["token"])
    items = _by_id(inbox)
    item = items[alert["id"]]
    assert item["response_types"] == ["Shelter"] and len(item["shelters"]) == 3
    distances = [s["distance_km"] for s in item["shelters"]]
    assert distances == sorted(distances)
    first = item["shelters"][0]
    assert item["shelter_guidance"].startswith(f"nearest shelter: {first['name']}")
    assert item["body"].endswith(item["shelter_guidance"])
    assert items[other["id"]]["shelters"] == [] and items[other["id"]]["shelter_guidance"] is None
    _, zh_inbox = await api.call("GET", "/api/v1/inbox", zh["token"])
    assert _by_id(zh_inbox)[alert["id"]]["shelter_guidance"].startswith("最近避难场所：")
