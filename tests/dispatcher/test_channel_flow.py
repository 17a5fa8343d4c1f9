"""Fan-out through the provider adapters against their simulators: failover, pruning, receipts."""
from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace

import orjson
import pytest

from channels.sms import sign_reports
from loadtest.simulators.base import Faults
from loadtest.simulators.run import SimulatorSet
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hms_token(i: int) -> str:
    return f"IQAAAACy0{i:012d}hmsTokenTest00AAAAAAAAAAAAAAAAAAAA"


async def _open(store, settings, monkeypatch, names, faults=None, channels=None, **extra_env):
    sims = await SimulatorSet(names, faults=faults or {}).start({n: 0 for n in names})
    port = _free_port()
    for k, v in {**sims.env(), "WARNCAST_SMS_CALLBACK_URL": f"http://127.0.0.1:{port}/callbacks/sms",
                 **extra_env}.items():
        monkeypatch.setenv(k, v)
    cm = open_api(store, replace(settings, channels=tuple(channels or names),
                                 sms_transport="smpp" if "smpp" in names else "http"), port=port)
    return sims, cm


async def _until(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_unregistered_tokens_fail_over_to_sms_and_are_pruned(store, redis_sync, settings, monkeypatch):
    faults = {"hms": Faults(unregistered_fraction=0.2, seed=3)}
    sims, cm = await _open(store, settings, monkeypatch, ("hms", "sms"), faults)
    try:
        async with cm as api:
            subs = [await api.register(regions=["110105"], channels=["hms", "sms", "inapp"],
                                       endpoints={"hms": _hms_token(i), "sms": f"+86139{i:08d}"}) for i in range(60)]
            status, alert = await api.publish(cap_json(codes=["110105"]))
            await api.drain()
            gone = {s["id"] for i, s in enumerate(subs) if sims.sims["hms"].faults.unregistered(_hms_token(i))}
            assert 0 < len(gone) < 60
            hms_got = sims.ledger("hms").recipients(alert["id"])
            sms_got = sims.ledger("sms").recipients(alert["id"])
            assert len(hms_got) == 60 - len(gone)
            assert sms_got == {f"+86139{i:08d}" for i, s in enumerate(subs) if s["id"] in gone}
            assert sims.ledger("hms").duplicates() == 0 and sims.ledger("sms").duplicates() == 0
            pruned = next(s for s in subs if s["id"] in gone)
            _, now = await api.call("GET", f"/api/v1/subscribers/{pruned['id']}", pruned["token"])
            assert "hms" not in now["endpoints"] and now["channels"] == ["sms", "inapp"]
            _, page = await api.call("GET", f"/api/v1/alerts/{alert['id']}/deliveries?limit=100")
            by_id = {d["subscriber_id"]: d for d in page["deliveries"]}
            assert {by_id[i]["channel"] for i in gone} == {"sms"}
            assert {tuple(by_id[i]["tried"]) for i in gone} == {("hms", "sms")}       # the chain tried
            # the SMS gateway's signed delivery reports arrive at /callbacks/sms
            await sims.sims["sms"].drain_receipts()

            async def delivered():
                _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
                return got["stats"]["channels"]["sms"]["delivered"] == len(gone)
            assert await _until(delivered)
            _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
            stats = got["stats"]
            assert stats["channels"]["hms"]["sent"] == 60 - len(gone)
            assert stats["channels"]["hms"]["failover"] == len(gone)
            assert stats["failure_reasons"] == {"hms:unregistered": len(gone)}
    finally:
        await sims.stop()


async def test_forged_or_stale_delivery_reports_are_refused(store, redis_sync, settings, monkeypatch):
    sims, cm = await _open(store, settings, monkeypatch, ("sms",))
    try:
        async with cm as api:
            await api.register(regions=["110105"], endpoints={"sms": "+8613900000001"})
            _, alert = await api.publish(cap_json(codes=["110105"]))
            await api.drain()
            entry = sims.ledger("sms").entries[0]
            body = orjson.dumps({"reports": [{"message_id": entry.message_id, "status": "FAILED",
                                              "error_code": "X", "done_at": time.time()}]})
            now = str(int(time.time()))
            for headers in ({}, {"X-Timestamp": now, "X-Signature": "00" * 32},
                            {"X-Timestamp": str(int(time.time()) - 3600),
                             "X-Signature": sign_reports(sims.sims["sms"].callback_secret,
                                                         str(int(time.time()) - 3600), body)}):
                status, err = await api.call("POST", "/callbacks/sms", None, data=body,
                                             headers={"Content-Type": "application/json", **headers})
                assert status == 401, err
            _, page = await api.call("GET", f"/api/v1/alerts/{alert['id']}/deliveries")
            assert page["deliveries"][0]["state"] in ("sent", "delivered")      # never "failed"
    finally:
        await sims.stop()


async def test_smpp_transport_with_deliver_sm_receipts(store, redis_sync, settings, monkeypatch):
    sims, cm = await _open(store, settings, monkeypatch, ("smpp",), channels=("sms",))
    try:
        async with cm as api:
            for i in range(20):
                await api.register(regions=["110105"], language="zh-CN" if i % 2 else "en",
                                   endpoints={"sms": f"+86139{i:08d}"})
            _, alert = await api.publish(cap_json(codes=["110105"]))
            await api.drain()
            assert len(sims.ledger("smpp").recipients(alert["id"] % 65536)) == 20

            async def delivered():
                _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
                return got["stats"]["channels"].get("smpp", {}).get("delivered") == 20
            assert await _until(delivered)
            texts = sims.sims["smpp"].texts
            assert any(t.startswith("【北京市预警信息发布中心】") for t in texts.values())
    finally:
        await sims.stop()


@pytest.mark.parametrize("channel", ["fcm", "apns", "webpush"])
async def test_one_request_per_message_channels(store, redis_sync, settings, monkeypatch, channel):
    sims, cm = await _open(store, settings, monkeypatch, (channel,))
    try:
        async with cm as api:
            sim = sims.sims[channel]
            for i in range(12):
                if channel == "fcm":
                    ep = f"fcm{i:04d}:" + "A" * 150
                elif channel == "apns":
                    ep = f"{i:064x}"
                else:
                    ep = sim.make_subscription(i)
                await api.register(regions=["110105"], endpoints={channel: ep})
            _, alert = await api.publish(cap_json(codes=["110105"], severity="Extreme", urgency="Immediate"))
            await api.drain()
            assert len(sim.ledger.recipients(alert["id"])) == 12
            assert sim.ledger.duplicates() == 0
            assert {e.collapse_key for e in sim.ledger.entries} != {""}
            _, got = await api.call("GET", f"/api/v1/alerts/{alert['id']}")
            assert got["stats"]["channels"][channel]["sent"] == 12
    finally:
        await sims.stop()
