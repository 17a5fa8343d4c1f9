"""HmsChannel against the HMS simulator on loopback."""
from __future__ import annotations

import json
import time

import pytest

from channels.base import Notice, Outcome, Reason, Recipient
from channels.hms import HmsChannel, HmsSettings, classify_hms
from loadtest.simulators.base import Faults
from loadtest.simulators.hms import HmsSimulator


def make_notice(**kw) -> Notice:
    values = dict(alert_id=42, identifier="BJ-2025-0001", lang="zh", title="暴雨红色预警", body="请立即避险。",
                  severity="Extreme", urgency="Immediate", expires_at=time.time() + 3600,
                  collapse_key="alert-42", msg_type="Alert")
    values.update(kw)
    return Notice(**values)


def tokens(n: int, prefix: str = "IQAAAACy0") -> list[Recipient]:
    return [Recipient(i, f"{prefix}{i:08d}-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") for i in range(n)]


@pytest.fixture
async def sim():
    s = await HmsSimulator(Faults(seed=1, retry_after_s=7)).start()
    yield s
    await s.stop()


@pytest.fixture
async def channel(sim):
    ch = HmsChannel(HmsSettings(url=sim.url, app_id=sim.app_id, client_id=sim.client_id,
                                client_secret=sim.client_secret, request_timeout_s=2))
    await ch.open()
    yield ch
    await ch.close()


async def test_success_records_every_token_with_alert_and_collapse_key(sim, channel):
    recipients = tokens(5)
    results = await channel.send(make_notice(), recipients)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    request_id = results[0].provider_id
    assert request_id and [r.provider_id for r in results] == [request_id] * 5
    assert len(sim.ledger) == 5
    assert sim.ledger.recipients(42) == {r.endpoint for r in recipients}
    assert {e.collapse_key for e in sim.ledger.entries} == {"alert-42"}


async def test_batches_of_more_than_1000_tokens_are_split(sim, channel):
    results = await channel.send(make_notice(), tokens(2500))
    assert sum(r.ok for r in results) == 2500
    assert sim.requests == 3
    assert sim.ledger.count(42) == 2500 and sim.ledger.duplicates() == 0


async def test_request_carries_ttl_urgency_collapse_key_and_data(sim, channel):
    notice = make_notice(expires_at=time.time() + 600)
    await channel.send(notice, tokens(2))
    assert sim.last_headers["authorization"].startswith("Bearer ")
    message = sim.last_body["message"]
    assert sim.last_body["validate_only"] is False
    android = message["android"]
    assert android["urgency"] == "HIGH"
    assert 595 <= int(android["ttl"].removesuffix("s")) <= 600
    assert android["collapse_key"] == "alert-42"
    assert android["notification"] == {"title": "暴雨红色预警", "body": "请立即避险。", "importance": "HIGH"}
    data = json.loads(message["data"])
    assert data == {"alert_id": "42", "identifier": "BJ-2025-0001", "severity": "Extreme", "msgType": "Alert"}


@pytest.mark.parametrize("code, outcome, reason, retry_after", [
    ("503", Outcome.RETRY, Reason.THROTTLED, 7.0),
    ("429", Outcome.RETRY, Reason.THROTTLED, 7.0),
    ("500", Outcome.RETRY, Reason.SERVER_ERROR, None),
    ("81000001", Outcome.RETRY, Reason.SERVER_ERROR, None),
    ("401", Outcome.PERMANENT, Reason.AUTH, None),
    ("80200003", Outcome.PERMANENT, Reason.AUTH, None),
    ("80300007", Outcome.GONE, Reason.UNREGISTERED, None),
    ("80300008", Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE, None),
    ("80100003", Outcome.PERMANENT, Reason.BAD_REQUEST, None),
    ("80300002", Outcome.PERMANENT, Reason.CONFIGURATION, None),
])
async def test_every_error_code_is_classified(sim, channel, code, outcome, reason, retry_after):
    sim.faults.error_rates = {code: 1.0}
    results = await channel.send(make_notice(), tokens(3))
    assert [(r.outcome, r.reason, r.retry_after_s) for r in results] == [(outcome, reason, retry_after)] * 3
    assert len(sim.ledger) == 0


@pytest.mark.parametrize("code", ["401", "80200003"])
async def test_auth_refusal_refreshes_the_token_once_then_gives_up(sim, channel, code):
    sim.faults.error_rates = {code: 1.0}
    await channel.send(make_notice(), tokens(1))
    assert sim.tokens_issued == 2
    assert sim.requests == 2


async def test_expired_token_is_refreshed_and_the_request_retried(sim, channel):
    await channel.send(make_notice(), tokens(1))
    sim.revoke_tokens()
    results = await channel.send(make_notice(), tokens(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert sim.tokens_issued == 2
    assert len(sim.ledger) == 4


async def test_token_is_cached_until_a_minute_before_expiry():
    sim = await HmsSimulator(token_ttl_s=61).start()  # cached for 1 s
    ch = HmsChannel(HmsSettings(url=sim.url, request_timeout_s=2))
    now = [1_000.0]
    ch._bearer.clock = lambda: now[0]
    await ch.open()
    try:
        await ch.send(make_notice(), tokens(1))
        now[0] += 0.9
        await ch.send(make_notice(), tokens(1))
        assert sim.tokens_issued == 1
        now[0] += 0.2                                  # past the minute before expiry
        results = await ch.send(make_notice(), tokens(1))
        assert results[0].ok
        assert sim.tokens_issued == 2
    finally:
        await ch.close()
        await sim.stop()


async def test_wrong_client_secret_is_a_permanent_auth_failure(sim):
    ch = HmsChannel(HmsSettings(url=sim.url, client_secret="wrong", request_timeout_s=2))
    await ch.open()
    try:
        results = await ch.send(make_notice(), tokens(2))
    finally:
        await ch.close()
    assert [(r.outcome, r.reason) for r in results] == [(Outcome.PERMANENT, Reason.AUTH)] * 2
    assert sim.requests == 0


async def test_partial_success_marks_only_illegal_tokens_gone(sim, channel):
    sim.faults.unregistered_fraction = 0.4
    recipients = tokens(50)
    results = await channel.send(make_notice(), recipients)
    gone = [sim.faults.unregistered(r.endpoint) for r in recipients]
    assert 0 < sum(gone) < 50
    for result, is_gone in zip(results, gone):
        if is_gone:
            assert (result.outcome, result.reason) == (Outcome.GONE, Reason.UNREGISTERED)
        else:
            assert result.ok and result.provider_id
    assert len(sim.ledger) == 50 - sum(gone)


async def test_all_tokens_unregistered_is_gone_for_all(sim, channel):
    sim.faults.unregistered_fraction = 1.0
    results = await channel.send(make_notice(), tokens(4))
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.GONE, Reason.UNREGISTERED)}


async def test_provider_down_is_retry(sim, channel):
    sim.faults.down = True
    results = await channel.send(make_notice(), tokens(2))
    assert {(r.outcome, r.reason, r.retry_after_s) for r in results} == {(Outcome.RETRY, Reason.THROTTLED, 7.0)}


async def test_dropped_connection_is_retry_and_not_recorded(sim, channel):
    sim.faults.drop_rate = 1.0
    results = await channel.send(make_notice(), tokens(2))
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.RETRY, Reason.CONNECTION)}
    assert len(sim.ledger) == 0


async def test_accept_then_stall_times_out_although_recorded(sim):
    sim.faults.accept_then_stall_rate = 1.0
    sim.faults.stall_s = 5
    ch = HmsChannel(HmsSettings(url=sim.url, request_timeout_s=0.3))
    await ch.open()
    try:
        results = await ch.send(make_notice(), tokens(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.RETRY, Reason.TIMEOUT)}
    assert len(sim.ledger) == 2


async def test_expired_notice_is_not_sent(sim, channel):
    results = await channel.send(make_notice(expires_at=time.time() - 1), tokens(2))
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.EXPIRED)}
    assert sim.requests == 0


async def test_long_body_is_shortened_on_a_character_boundary(sim, channel):
    body = "北京市气象台发布暴雨红色预警信号。" * 400
    results = await channel.send(make_notice(body=body), tokens(1))
    assert results[0].ok
    message = dict(sim.last_body["message"])
    sent = message["android"]["notification"]["body"]
    assert sent.endswith("…") and body.startswith(sent[:-1])
    del message["token"]
    assert len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()) <= 4096


async def test_unreachable_provider_is_retry_connection():
    ch = HmsChannel(HmsSettings(url="http://127.0.0.1:9", request_timeout_s=1))
    await ch.open()
    try:
        results = await ch.send(make_notice(), tokens(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.RETRY, Reason.CONNECTION)}


@pytest.mark.parametrize("msg", [
    "not json", "", None, "[]", "1", '{"success": 1}', '{"illegal_tokens": "a"}', '{"illegal_tokens": [1]}',
])
def test_classify_partial_answer_with_unreadable_msg_is_retried_not_accepted(msg):
    results = classify_hms(200, {"code": "80100000", "msg": msg, "requestId": "r"}, {}, ["a", "b"])
    assert [(r.outcome, r.reason) for r in results] == [(Outcome.RETRY, Reason.SERVER_ERROR)] * 2
    assert all(r.provider_id is None for r in results)


def test_classify_partial_answer_with_empty_illegal_list_accepts_all():
    results = classify_hms(200, {"code": "80100000", "msg": '{"illegal_tokens": []}', "requestId": "r"}, {},
                           ["a", "b"])
    assert [(r.outcome, r.provider_id) for r in results] == [(Outcome.ACCEPTED, "r")] * 2


def test_classify_unknown_code_is_permanent_unknown():
    [result] = classify_hms(200, {"code": "89999999", "msg": "?"}, {}, ["a"])
    assert (result.outcome, result.reason) == (Outcome.PERMANENT, Reason.UNKNOWN)


@pytest.mark.parametrize("value, ok", [
    ("A" * 32, True),
    ("IQAAAACy0kYdAADh2Y_0Vq1hkzMbdw:APA91b+/=.-" + "x" * 20, True),
    ("  " + "a" * 64 + "\n", True),
    ("a" * 512, True),
    ("a" * 31, False),
    ("a" * 513, False),
    ("a" * 40 + " space", False),
    ("a" * 40 + "#", False),
    ("", False),
])
def test_validate_endpoint(value, ok):
    if ok:
        assert HmsChannel.validate_endpoint(value) == value.strip()
    else:
        with pytest.raises(ValueError, match="HMS push token"):
            HmsChannel.validate_endpoint(value)


def test_settings_from_env_and_secret_not_in_repr():
    s = HmsSettings.from_env({"WARNCAST_HMS_URL": "https://push-api.cloud.huawei.com/", "WARNCAST_HMS_APP_ID": "7",
                              "WARNCAST_HMS_CLIENT_ID": "7", "WARNCAST_HMS_CLIENT_SECRET": "s3cret"})
    assert (s.url, s.app_id, s.client_id, s.client_secret) == ("https://push-api.cloud.huawei.com", "7", "7", "s3cret")
    assert "s3cret" not in repr(s)
    assert HmsSettings.from_env({}) == HmsSettings()
