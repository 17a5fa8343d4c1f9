"""Open registration is not a relay: it is limited per client address, and an SMS number given
there is reached only after its owner types in the one-time code sent to it."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from dispatcher import keys
from loadtest.simulators.sms import SmsGatewaySimulator
from tests.dispatcher.conftest import api, open_api, settings  # noqa: F401  (fixtures)
from tests.factories import cap_json

NUMBER = "+8613900000042"


async def test_registration_is_limited_per_client_address(store, redis_sync, settings):
    async with open_api(store, replace(settings, registration_limit=3, registration_window_s=600)) as api:
        for _ in range(3):
            assert (await api.call("POST", "/api/v1/subscribers", None, json={"regions": ["110105"]}))[0] == 201
        async with api.session.post(api.url + "/api/v1/subscribers", json={"regions": ["110105"]}) as resp:
            assert resp.status == 429
            assert 0 < int(resp.headers["Retry-After"]) <= 600
            body = await resp.json()
        assert body["errors"][0]["field"] == "client"
        _, stats = await api.call("GET", "/api/v1/stats", "operator")
        assert stats["subscribers"] == 3
        assert stats["security"]["registrations_refused"] == 1


@pytest.fixture
async def sms(store, redis_sync, settings, monkeypatch):
    sim = SmsGatewaySimulator()
    await sim.start()
    monkeypatch.setenv("WARNCAST_SMS_URL", sim.url)
    monkeypatch.setenv("WARNCAST_SMS_CALLBACK_SECRET", sim.callback_secret)
    monkeypatch.setenv("WARNCAST_SMS_CALLBACK_URL", "http://127.0.0.1:9/unused")
    try:
        async with open_api(store, replace(settings, channels=("sms",), sms_transport="http")) as api:
            api.sim = sim
            yield api
    finally:
        await sim.stop()


async def _open_registration(api) -> dict:
    status, sub = await api.call("POST", "/api/v1/subscribers", None, json={
        "regions": ["110105"], "channels": ["sms", "inapp"], "endpoints": {"sms": NUMBER}})
    assert status == 201, sub
    return sub


async def _alert(api) -> int:
    status, alert = await api.publish(cap_json(codes=["110105"]))
    assert status == 202, alert
    await api.drain()
    return alert["id"]


def _code(api) -> str:
    return re.search(r"\b(\d{6})\b", api.sim.last_text[NUMBER]).group(1)


async def test_an_unverified_number_is_never_sent_an_alert(sms):
    sub = await _open_registration(sms)
    assert sub["sms"]["verified"] is False and sub["channels"] == ["inapp"] and "sms" not in sub["endpoints"]
    alert_id = await _alert(sms)
    assert NUMBER not in sms.sim.ledger.recipients(alert_id)
    _, page = await sms.call("GET", f"/api/v1/alerts/{alert_id}/deliveries")
    assert [d["channel"] for d in page["deliveries"]] == ["inapp"]


async def test_the_code_flow_verifies_the_number(sms, redis_sync):
    sub = await _open_registration(sms)
    path, token = f"/api/v1/subscribers/{sub['id']}/sms:verify", sub["token"]
    status, sent = await sms.call("POST", path, token, json={})
    assert status == 202 and sent["sent"] is True, sent
    code = _code(sms)
    stored = redis_sync.hgetall(keys.sms_verification(sub["id"]))
    assert code.encode() not in b"".join(stored.values())                  # kept only as a digest
    assert (await sms.call("POST", path, None, json={"code": code}))[0] == 401   # the owner only
    wrong = "000000" if code != "000000" else "111111"
    status, err = await sms.call("POST", path, token, json={"code": wrong})
    assert status == 422 and err["errors"][0]["field"] == "code"
    status, done = await sms.call("POST", path, token, json={"code": code})
    assert status == 200, done
    assert done["channels"] == ["sms", "inapp"] and done["endpoints"]["sms"].startswith("+861")
    alert_id = await _alert(sms)
    assert NUMBER in sms.sim.ledger.recipients(alert_id)
    assert (await sms.call("POST", path, token, json={"code": code}))[0] == 404       # spent


async def test_codes_are_attempt_limited_and_resends_throttled(sms):
    sub = await _open_registration(sms)
    path, token = f"/api/v1/subscribers/{sub['id']}/sms:verify", sub["token"]
    assert (await sms.call("POST", path, token, json={}))[0] == 202
    code = _code(sms)
    again = await sms.session.post(sms.url + path, json={}, headers=sms.headers(token))
    assert again.status == 429 and int(again.headers["Retry-After"]) > 0
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert (await sms.call("POST", path, token, json={"code": wrong}))[0] == 422
    status, err = await sms.call("POST", path, token, json={"code": code})
    assert status == 422 and "new" in err["errors"][0]["message"]              # used up: ask again
    _, now = await sms.call("GET", f"/api/v1/subscribers/{sub['id']}", token)
    assert "sms" not in now["endpoints"]


async def test_a_subscriber_changing_the_number_verifies_it_again(sms):
    sub = await _open_registration(sms)
    status, changed = await sms.call("PATCH", f"/api/v1/subscribers/{sub['id']}", sub["token"],
                                     json={"endpoints": {"sms": "+8613900000043"}})
    assert status == 200 and changed["sms"]["verified"] is False and "sms" not in changed["endpoints"]
    status, by_operator = await sms.call("PATCH", f"/api/v1/subscribers/{sub['id']}", "operator",
                                         json={"endpoints": {"sms": NUMBER}, "channels": ["sms", "inapp"]})
    assert status == 200 and "sms" not in by_operator and by_operator["channels"] == ["sms", "inapp"]


async def test_numbers_an_operator_imports_count_as_verified(sms):
    line = b'{"regions": ["110105"], "channels": ["sms", "inapp"], "endpoints": {"sms": "' + NUMBER.encode() + b'"}}\n'
    status, report = await sms.call("POST", "/api/v1/subscribers:import", "operator", data=line,
                                    headers={"Content-Type": "application/x-ndjson"})
    assert status == 200 and report["imported"] == 1, report
    alert_id = await _alert(sms)
    assert NUMBER in sms.sim.ledger.recipients(alert_id)


async def test_no_code_without_the_sms_channel(api):
    sub = await _open_registration(api)
    status, err = await api.call("POST", f"/api/v1/subscribers/{sub['id']}/sms:verify", sub["token"], json={})
    assert status == 409, err
