"""SMS delivery reports: no public default secret, finite timestamps inside the window, replays
change nothing and are counted, and no callback route while the SMS channel is off."""
from __future__ import annotations

import logging
import stat
import time
from dataclasses import replace

import orjson
import pytest

from channels.sms import sign_reports
from dispatcher.installation import SECRETS_DIR, SMS_CALLBACK_SECRET
from loadtest.simulators.sms import SmsGatewaySimulator
from subscribers.model import Subscriber
from subscribers.store import SubscriberStore
from tests.dispatcher.conftest import api, open_api, settings  # noqa: F401  (fixtures)
from tests.factories import cap_json

#: The secret every installation shared before: it must open nothing now.
OLD_PUBLIC_DEFAULT = "warncast-dev-sms-callback-secret"


@pytest.fixture
async def sms_api(store, redis_sync, settings, monkeypatch, caplog):
    """The API with the SMS channel on and WARNCAST_SMS_CALLBACK_SECRET unset, one SMS subscriber
    sent one alert."""
    sim = SmsGatewaySimulator()
    await sim.start()
    monkeypatch.delenv("WARNCAST_SMS_CALLBACK_SECRET", raising=False)
    monkeypatch.setenv("WARNCAST_SMS_URL", sim.url)
    monkeypatch.setenv("WARNCAST_SMS_CALLBACK_URL", "http://127.0.0.1:9/unused")
    caplog.set_level(logging.INFO)
    try:
        async with open_api(store, replace(settings, channels=("sms",), sms_transport="http")) as api:
            from dispatcher.api import context as ctx
            await SubscriberStore(api.app[ctx.REDIS], settings.shard_size).write_many(
                [Subscriber(regions=["110105"], channels=["sms"], endpoints={"sms": "+8613900000001"})])
            status, alert = await api.publish(cap_json(codes=["110105"]))
            assert status == 202, alert
            await api.drain()
            api.alert_id = alert["id"]
            api.message_id = sim.ledger.entries[0].message_id
            yield api
    finally:
        await sim.stop()


def _report(message_id: str, status: str = "FAILED") -> bytes:
    return orjson.dumps({"reports": [{"message_id": message_id, "status": status, "error_code": "X",
                                      "done_at": time.time()}]})


async def _post(api, body: bytes, secret: str, stamp: str | None = None):
    stamp = stamp if stamp is not None else str(int(time.time()))
    return await api.call("POST", "/callbacks/sms", None, data=body, headers={
        "Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": sign_reports(secret, stamp, body)})


async def _state(api) -> str:
    _, page = await api.call("GET", f"/api/v1/alerts/{api.alert_id}/deliveries")
    return page["deliveries"][0]["state"]


def _generated(settings) -> str:
    return (settings.data_dir / SECRETS_DIR / SMS_CALLBACK_SECRET).read_text().strip()


async def test_the_old_public_default_opens_nothing(sms_api):
    status, err = await _post(sms_api, _report(sms_api.message_id), OLD_PUBLIC_DEFAULT)
    assert status == 401, err
    assert await _state(sms_api) == "sent"


async def test_a_secret_is_generated_per_installation_and_announced(sms_api, settings, caplog):
    path = settings.data_dir / SECRETS_DIR / SMS_CALLBACK_SECRET
    secret = _generated(settings)
    assert len(secret) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    logged = [r.getMessage() for r in caplog.get_records("setup") + caplog.records]
    said = [m for m in logged if "WARNCAST_SMS_CALLBACK_SECRET" in m]
    assert said and str(path) in said[0]
    assert not any(secret in m for m in logged)                              # never the value itself
    status, body = await _post(sms_api, _report(sms_api.message_id), secret)
    assert status == 200 and body["recorded"] == 1, body
    assert await _state(sms_api) == "failed"


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "infinity", "1e9", "-5", " ", "12abc"])
async def test_timestamps_must_be_finite_unix_times(sms_api, settings, stamp):
    status, err = await _post(sms_api, _report(sms_api.message_id), _generated(settings), stamp=stamp)
    assert status == 400, err
    assert err["errors"][0]["field"] == "X-Timestamp"
    assert await _state(sms_api) == "sent"


async def test_a_stale_report_is_refused(sms_api, settings):
    status, err = await _post(sms_api, _report(sms_api.message_id), _generated(settings),
                              stamp=str(int(time.time()) - 3600))
    assert status == 401, err
    assert await _state(sms_api) == "sent"


async def test_a_replayed_report_changes_nothing_and_is_counted(sms_api, settings):
    secret = _generated(settings)
    delivered = _report(sms_api.message_id, "DELIVERED")
    status, first = await _post(sms_api, delivered, secret)
    assert status == 200 and first["recorded"] == 1 and first["replays"] == 0, first
    _, before = await sms_api.call("GET", f"/api/v1/alerts/{sms_api.alert_id}", "operator")
    status, again = await _post(sms_api, delivered, secret)
    assert status == 200 and again["recorded"] == 0 and again["replays"] == 1, again
    _, after = await sms_api.call("GET", f"/api/v1/alerts/{sms_api.alert_id}", "operator")
    assert after["stats"] == before["stats"]
    _, stats = await sms_api.call("GET", "/api/v1/stats", "operator")
    assert stats["security"]["receipt_replays"] == 1


async def test_no_callback_route_without_the_sms_channel(api):
    status, _ = await api.call("POST", "/callbacks/sms", None, data=_report("1"),
                               headers={"Content-Type": "application/json"})
    assert status == 404
