"""FcmChannel against the FCM HTTP v1 simulator on loopback."""
from __future__ import annotations

import json
import time

import pytest

from channels.base import Notice, Outcome, Reason, Recipient
from channels.fcm import FcmChannel, FcmSettings, classify_fcm
from loadtest.simulators.base import Faults
from loadtest.simulators.fcm import FcmSimulator


def make_notice(**kw) -> Notice:
    values = dict(alert_id=7, identifier="BJ-2025-0007", lang="zh", title="大风橙色预警", body="请关好门窗。",
                  severity="Severe", urgency="Expected", expires_at=time.time() + 3600,
                  collapse_key="alert-7", msg_type="Update", data={"area": "110105"})
    values.update(kw)
    return Notice(**values)


def tokens(n: int) -> list[Recipient]:
    return [Recipient(i, f"fcm{i:06d}:APA91b" + "x" * 140) for i in range(n)]


@pytest.fixture(scope="module")
def account():
    return FcmSimulator.make_service_account(project_id="warncast-test")


@pytest.fixture
async def sim(account):
    s = await FcmSimulator(Faults(seed=3, retry_after_s=12), service_account=account).start()
    yield s
    await s.stop()


def settings_for(sim: FcmSimulator, account: dict, **kw) -> FcmSettings:
    return FcmSettings(url=sim.url, service_account_json=json.dumps(account), token_url=sim.token_uri,
                       request_timeout_s=kw.pop("request_timeout_s", 2), **kw)


@pytest.fixture
async def channel(sim, account):
    ch = FcmChannel(settings_for(sim, account))
    await ch.open()
    yield ch
    await ch.close()


async def test_success_one_request_per_message_with_message_names(sim, channel):
    recipients = tokens(120)
    results = await channel.send(make_notice(), recipients)
    assert all(r.ok for r in results)
    assert all(r.provider_id.startswith("projects/warncast-test/messages/") for r in results)
    assert len({r.provider_id for r in results}) == 120
    assert sim.requests == 120 and sim.ledger.count(7) == 120
    assert sim.ledger.recipients(7) == {r.endpoint for r in recipients}
    assert sim.tokens_issued == 1


async def test_message_carries_notification_data_ttl_priority_collapse_key(sim, channel):
    await channel.send(make_notice(expires_at=time.time() + 900), tokens(1))
    message = sim.last_body["message"]
    assert message["token"] == tokens(1)[0].endpoint
    assert message["notification"] == {"title": "大风橙色预警", "body": "请关好门窗。"}
    assert message["data"] == {"alert_id": "7", "identifier": "BJ-2025-0007", "severity": "Severe",
                               "msgType": "Update", "area": "110105"}
    android = message["android"]
    assert android["priority"] == "HIGH" and android["collapse_key"] == "alert-7"
    assert 895 <= int(android["ttl"].removesuffix("s")) <= 900
    assert message["apns"]["headers"]["apns-collapse-id"] == "alert-7"
    assert sim.last_headers["authorization"].startswith("Bearer ya29.")


@pytest.mark.parametrize("knob, outcome, reason, retry_after", [
    ("UNREGISTERED", Outcome.GONE, Reason.UNREGISTERED, None),
    ("INVALID_TOKEN", Outcome.GONE, Reason.INVALID_ENDPOINT, None),
    ("INVALID_ARGUMENT", Outcome.PERMANENT, Reason.BAD_REQUEST, None),
    ("QUOTA_EXCEEDED", Outcome.RETRY, Reason.THROTTLED, 12.0),
    ("UNAVAILABLE", Outcome.RETRY, Reason.SERVER_ERROR, 12.0),
    ("INTERNAL", Outcome.RETRY, Reason.SERVER_ERROR, 12.0),
    ("SENDER_ID_MISMATCH", Outcome.PERMANENT, Reason.CONFIGURATION, None),
    ("THIRD_PARTY_AUTH_ERROR", Outcome.PERMANENT, Reason.CONFIGURATION, None),
    ("UNAUTHENTICATED", Outcome.PERMANENT, Reason.AUTH, None),
    ("404", Outcome.GONE, Reason.UNREGISTERED, None),
    ("429", Outcome.RETRY, Reason.THROTTLED, 12.0),
    ("503", Outcome.RETRY, Reason.SERVER_ERROR, 12.0),
    ("500", Outcome.RETRY, Reason.SERVER_ERROR, 12.0),
])
async def test_every_error_code_is_classified(sim, channel, knob, outcome, reason, retry_after):
    sim.faults.error_rates = {knob: 1.0}
    results = await channel.send(make_notice(), tokens(3))
    assert [(r.outcome, r.reason, r.retry_after_s) for r in results] == [(outcome, reason, retry_after)] * 3
    assert len(sim.ledger) == 0


async def test_401_refreshes_the_bearer_and_retries_once(sim, channel):
    await channel.send(make_notice(), tokens(1))
    sim.revoke_tokens()
    results = await channel.send(make_notice(), tokens(5))
    assert all(r.ok for r in results)
    assert sim.tokens_issued == 2  # one refresh shared by the five requests
    assert len(sim.ledger) == 6


async def test_third_party_auth_error_does_not_refresh(sim, channel):
    sim.faults.error_rates = {"THIRD_PARTY_AUTH_ERROR": 1.0}
    await channel.send(make_notice(), tokens(1))
    assert sim.tokens_issued == 1 and sim.requests == 1


async def test_assertion_signed_with_another_key_is_refused(sim, account):
    other = FcmSimulator.make_service_account(project_id="warncast-test")
    other["client_email"] = account["client_email"]
    ch = FcmChannel(settings_for(sim, other))
    await ch.open()
    try:
        results = await ch.send(make_notice(), tokens(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.AUTH)}
    assert sim.tokens_issued == 0 and sim.requests == 0


async def test_unregistered_tokens_are_gone_and_stable(sim, channel):
    sim.faults.unregistered_fraction = 0.3
    recipients = tokens(60)
    first = await channel.send(make_notice(), recipients)
    second = await channel.send(make_notice(alert_id=8), recipients)
    gone = [r.outcome is Outcome.GONE for r in first]
    assert 0 < sum(gone) < 60
    assert gone == [r.outcome is Outcome.GONE for r in second]
    assert all(r.reason is Reason.UNREGISTERED for r in first if r.outcome is Outcome.GONE)
    assert len(sim.ledger) == 2 * (60 - sum(gone))


async def test_expired_notice_is_not_sent(sim, channel):
    results = await channel.send(make_notice(expires_at=time.time() - 5), tokens(3))
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.EXPIRED)}
    assert sim.requests == 0


async def test_concurrency_is_bounded_by_max_in_flight(sim, channel):
    sim.faults.latency_ms = (100.0, 100.0)
    results = await channel.send(make_notice(), tokens(300))
    assert all(r.ok for r in results)
    assert 16 <= sim.peak_in_flight <= FcmChannel.max_in_flight


async def test_dropped_connections_and_stalls(sim, account):
    sim.faults.drop_rate = 1.0
    ch = FcmChannel(settings_for(sim, account, request_timeout_s=0.3))
    await ch.open()
    try:
        dropped = await ch.send(make_notice(), tokens(2))
        sim.faults.drop_rate = 0.0
        sim.faults.accept_then_stall_rate = 1.0
        sim.faults.stall_s = 5
        stalled = await ch.send(make_notice(), tokens(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in dropped} == {(Outcome.RETRY, Reason.CONNECTION)}
    assert {(r.outcome, r.reason) for r in stalled} == {(Outcome.RETRY, Reason.TIMEOUT)}
    assert len(sim.ledger) == 2


async def test_long_body_fits_4096_bytes(sim, channel):
    body = "🌀台风" * 2000
    results = await channel.send(make_notice(body=body), tokens(1))
    assert results[0].ok
    message = dict(sim.last_body["message"])
    sent = message["notification"]["body"]
    assert sent.endswith("…") and body.startswith(sent[:-1])
    del message["token"]
    assert len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()) <= 4096


@pytest.mark.parametrize("status, body, outcome, reason", [
    (200, {"name": "projects/p/messages/1"}, Outcome.ACCEPTED, Reason.OK),
    (400, {"error": {"status": "INVALID_ARGUMENT", "message": "The registration token is not a valid FCM registration token"}},
     Outcome.GONE, Reason.INVALID_ENDPOINT),
    (400, {"error": {"status": "INVALID_ARGUMENT", "message": "ttl out of range"}}, Outcome.PERMANENT, Reason.BAD_REQUEST),
    (404, {}, Outcome.GONE, Reason.UNREGISTERED),
    (502, {}, Outcome.RETRY, Reason.SERVER_ERROR),
    (418, {}, Outcome.PERMANENT, Reason.UNKNOWN),
])
def test_classify_without_fcm_error_details(status, body, outcome, reason):
    result = classify_fcm(status, body, {})
    assert (result.outcome, result.reason) == (outcome, reason)


def test_classify_reads_http_date_retry_after():
    result = classify_fcm(429, {}, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert result.retry_after_s > 1e8


@pytest.mark.parametrize("value, ok", [
    ("d" * 100, True),
    ("fGw0qy4TGgk:APA91bGtWGjuhp4WRhHXgbabIYp1jxEKI08ofj_v1bKhWAGJQ4e3arRCWzeTfHaLz83mBnDh0aPWB1AykXAVUUGl2h1wT4XI6XazWpvY7RBUSYfoxtqSWGIm2nvWh2BOP1YG501SsRoE" + "-_" * 5, True),
    ("d" * 4096, True),
    ("d" * 99, False),
    ("d" * 4097, False),
    ("d" * 120 + "/", False),
    ("d" * 120 + " x", False),
])
def test_validate_endpoint(value, ok):
    if ok:
        assert FcmChannel.validate_endpoint(value) == value
    else:
        with pytest.raises(ValueError, match="FCM registration token"):
            FcmChannel.validate_endpoint(value)


def test_settings_from_env_and_missing_service_account(tmp_path):
    s = FcmSettings.from_env({"WARNCAST_FCM_URL": "https://fcm.googleapis.com",
                              "WARNCAST_FCM_SERVICE_ACCOUNT_JSON": '{"private_key": "k"}'})
    assert s.url == "https://fcm.googleapis.com"
    assert '"k"' not in repr(s)
    with pytest.raises(ValueError, match="lacks client_email, token_uri, project_id"):
        s.service_account()
    with pytest.raises(ValueError, match="cannot be read"):
        FcmSettings(service_account_file=str(tmp_path / "none.json")).service_account()
