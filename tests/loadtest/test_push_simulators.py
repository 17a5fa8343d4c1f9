"""The push simulators' control endpoints and development credentials."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from channels.apns import ApnsChannel, ApnsSettings
from channels.base import Notice, Recipient
from channels.fcm import FcmChannel, FcmSettings
from channels.hms import HmsChannel, HmsSettings
from channels.webpush import WebPushChannel, WebPushSettings
from loadtest.simulators.apns import ApnsSimulator, load_dev_team_key
from loadtest.simulators.fcm import FcmSimulator, load_dev_service_account
from loadtest.simulators.hms import HmsSimulator
from loadtest.simulators.webpush import WebPushSimulator, derive_subscription


def make_notice() -> Notice:
    return Notice(alert_id=5, identifier="X-5", lang="en", title="Test", body="Body", severity="Minor",
                  urgency="Future", expires_at=time.time() + 600, collapse_key="alert-5")


@pytest.fixture
def dev_dir(tmp_path, monkeypatch):
    """Run in an empty directory so the development credentials are made afresh under ./var/."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def start_pair(kind: str):
    """A simulator and a channel built from default settings (env: only the simulator's address)."""
    if kind == "hms":
        sim = await HmsSimulator().start()
        ch = HmsChannel(HmsSettings.from_env({"WARNCAST_HMS_URL": sim.url}))
        endpoints = [f"hms-token-{i:030d}" for i in range(3)]
    elif kind == "fcm":
        sim = await FcmSimulator().start()
        ch = FcmChannel(FcmSettings.from_env({"WARNCAST_FCM_URL": sim.url, "WARNCAST_FCM_TOKEN_URL": sim.token_uri}))
        endpoints = [f"fcm-{i}:" + "t" * 150 for i in range(3)]
    elif kind == "apns":
        sim = await ApnsSimulator().start()
        ch = ApnsChannel(ApnsSettings.from_env({"WARNCAST_APNS_URL": sim.url}))
        endpoints = [ApnsSimulator.make_device_token(i) for i in range(3)]
    else:
        sim = await WebPushSimulator().start()
        ch = WebPushChannel(WebPushSettings.from_env({}))
        endpoints = [json.dumps(sim.make_subscription(i)) for i in range(3)]
    await ch.open()
    return sim, ch, [Recipient(i, e) for i, e in enumerate(endpoints)]


@pytest.mark.parametrize("kind", ["hms", "fcm", "apns", "webpush"])
async def test_default_settings_run_against_default_simulators(dev_dir, kind):
    sim, ch, recipients = await start_pair(kind)
    try:
        results = await ch.send(make_notice(), recipients)
    finally:
        await ch.close()
        await sim.stop()
    assert [r.ok for r in results] == [True] * 3, results
    assert sim.ledger.count(5) == 3


@pytest.mark.parametrize("kind", ["hms", "fcm", "apns", "webpush"])
async def test_control_endpoints(dev_dir, kind):
    sim, ch, recipients = await start_pair(kind)
    http2 = kind == "apns"
    try:
        await ch.send(make_notice(), recipients)
        async with httpx.AsyncClient(http1=not http2, http2=http2, base_url=sim.url) as client:
            ledger = (await client.get("/_ledger")).json()
            assert ledger["summary"] == {"accepted": 3, "duplicates": 0, "by_alert": {"5": 3}}
            assert [e["recipient"] for e in ledger["entries"]] == [e.recipient for e in sim.ledger.entries]
            assert {e["collapse_key"] for e in ledger["entries"]} == {"alert-5"}

            changed = await client.post("/_faults", json={"error_rates": {"503": 1.0}, "latency_ms": [1, 2]})
            assert changed.status_code == 200
            assert sim.faults.error_rates == {"503": 1.0} and sim.faults.latency_ms == (1, 2)
            assert (await client.post("/_faults", json={"no_such_knob": 1})).status_code == 400

            results = await ch.send(make_notice(), recipients)
            assert not any(r.ok for r in results)

            assert (await client.post("/_reset")).status_code == 200
            assert len(sim.ledger) == 0
            assert (await client.get("/_ledger")).json()["summary"]["accepted"] == 0
    finally:
        await ch.close()
        await sim.stop()


def test_development_credentials_are_made_once(dev_dir):
    account = load_dev_service_account()
    assert load_dev_service_account() == account
    assert FcmSettings().service_account()["private_key"] == account["private_key"]
    key = load_dev_team_key()
    assert load_dev_team_key() == key
    assert ApnsSettings().signing_key() == key[2]
    assert (dev_dir / "var/simulators/fcm-service-account.json").stat().st_mode & 0o077 == 0


def test_webpush_subscriptions_are_deterministic():
    first = derive_subscription("http://127.0.0.1:1", 9)
    assert derive_subscription("http://127.0.0.1:1", 9) == first
    assert derive_subscription("http://127.0.0.1:2", 9)["keys"] == first["keys"]  # keys follow the path only
    assert derive_subscription("http://127.0.0.1:1", 10)["keys"] != first["keys"]
    assert derive_subscription("http://127.0.0.1:1", 9, seed="other")["keys"] != first["keys"]
    assert json.loads(WebPushChannel.validate_endpoint(json.dumps(first))) == first
