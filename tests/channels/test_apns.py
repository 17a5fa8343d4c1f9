"""ApnsChannel against the HTTP/2 APNs simulator on loopback."""
from __future__ import annotations

import hashlib
import json
import time

import jwt
import pytest

from channels.apns import ApnsChannel, ApnsSettings, classify_apns
from channels.base import Notice, Outcome, Reason, Recipient
from loadtest.simulators.apns import ApnsSimulator
from loadtest.simulators.base import Faults


def make_notice(**kw) -> Notice:
    values = dict(alert_id=99, identifier="BJ-2025-0099", lang="en", title="Rainstorm red warning",
                  body="Move to higher ground now.", severity="Extreme", urgency="Immediate",
                  expires_at=time.time() + 3600, collapse_key="alert-99", msg_type="Alert")
    values.update(kw)
    return Notice(**values)


def devices(n: int, start: int = 0) -> list[Recipient]:
    return [Recipient(i, ApnsSimulator.make_device_token(i)) for i in range(start, start + n)]


@pytest.fixture(scope="module")
def team_key():
    return ApnsSimulator.make_team_key()


@pytest.fixture
async def sim(team_key):
    s = await ApnsSimulator(Faults(seed=5, retry_after_s=9), team_key=team_key, topic="org.example.alerts").start()
    yield s
    await s.stop()


def settings_for(sim: ApnsSimulator, team_key, **kw) -> ApnsSettings:
    key_id, team_id, pem = team_key
    values = dict(url=sim.url, team_id=team_id, key_id=key_id, private_key_pem=pem, topic="org.example.alerts",
                  ca_file=sim.ca_file, request_timeout_s=2)
    values.update(kw)
    return ApnsSettings(**values)


async def open_channel(settings: ApnsSettings) -> ApnsChannel:
    ch = ApnsChannel(settings)
    await ch.open()
    return ch


@pytest.fixture
async def channel(sim, team_key):
    ch = await open_channel(settings_for(sim, team_key))
    yield ch
    await ch.close()


async def test_success_records_each_device_with_apns_id(sim, channel):
    recipients = devices(25)
    results = await channel.send(make_notice(), recipients)
    assert all(r.ok for r in results)
    assert len({r.provider_id for r in results}) == 25
    assert sim.ledger.recipients(99) == {r.endpoint for r in recipients}
    assert {e.message_id for e in sim.ledger.entries} == {r.provider_id for r in results}
    assert {e.collapse_key for e in sim.ledger.entries} == {"alert-99"}


async def test_headers_seen_by_the_provider(sim, channel, team_key):
    notice = make_notice()
    await channel.send(notice, devices(1))
    h = sim.last_headers
    assert (h["apns-push-type"], h["apns-priority"], h["apns-topic"]) == ("alert", "10", "org.example.alerts")
    assert h["apns-expiration"] == str(int(notice.expires_at))
    assert h["apns-collapse-id"] == "alert-99"
    token = h["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == team_key[0]
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == team_key[1]


@pytest.mark.parametrize("severity, critical_allowed, level, sound", [
    ("Extreme", False, "time-sensitive", "default"),
    ("Severe", False, "time-sensitive", "default"),
    ("Severe", True, "time-sensitive", "default"),
    ("Extreme", True, "critical", {"critical": 1, "name": "default", "volume": 1.0}),
    ("Moderate", True, None, "default"),
])
async def test_payload_interruption_level(sim, team_key, severity, critical_allowed, level, sound):
    ch = await open_channel(settings_for(sim, team_key, critical_allowed=critical_allowed))
    try:
        [result] = await ch.send(make_notice(severity=severity), devices(1))
    finally:
        await ch.close()
    assert result.ok
    aps = sim.last_body["aps"]
    assert aps["alert"] == {"title": "Rainstorm red warning", "body": "Move to higher ground now."}
    assert aps.get("interruption-level") == level
    assert aps["sound"] == sound
    assert (sim.last_body["alert_id"], sim.last_body["severity"], sim.last_body["msgType"]) == ("99", severity, "Alert")


@pytest.mark.parametrize("knob, outcome, reason, retry_after", [
    ("Unregistered", Outcome.GONE, Reason.UNREGISTERED, None),
    ("410", Outcome.GONE, Reason.UNREGISTERED, None),
    ("BadDeviceToken", Outcome.GONE, Reason.INVALID_ENDPOINT, None),
    ("DeviceTokenNotForTopic", Outcome.GONE, Reason.INVALID_ENDPOINT, None),
    ("PayloadEmpty", Outcome.PERMANENT, Reason.BAD_REQUEST, None),
    ("BadCollapseId", Outcome.PERMANENT, Reason.BAD_REQUEST, None),
    ("BadExpirationDate", Outcome.PERMANENT, Reason.BAD_REQUEST, None),
    ("PayloadTooLarge", Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE, None),
    ("ExpiredProviderToken", Outcome.PERMANENT, Reason.AUTH, None),
    ("InvalidProviderToken", Outcome.PERMANENT, Reason.AUTH, None),
    ("MissingProviderToken", Outcome.PERMANENT, Reason.AUTH, None),
    ("BadCertificate", Outcome.PERMANENT, Reason.CONFIGURATION, None),
    ("TopicDisallowed", Outcome.PERMANENT, Reason.CONFIGURATION, None),
    ("TooManyProviderTokenUpdates", Outcome.RETRY, Reason.THROTTLED, 9.0),
    ("TooManyRequests", Outcome.RETRY, Reason.THROTTLED, 9.0),
    ("429", Outcome.RETRY, Reason.THROTTLED, 9.0),
    ("InternalServerError", Outcome.RETRY, Reason.SERVER_ERROR, None),
    ("ServiceUnavailable", Outcome.RETRY, Reason.SERVER_ERROR, 9.0),
    ("Shutdown", Outcome.RETRY, Reason.SERVER_ERROR, 9.0),
])
async def test_every_reason_is_classified(sim, channel, knob, outcome, reason, retry_after):
    sim.faults.error_rates = {knob: 1.0}
    results = await channel.send(make_notice(), devices(3))
    assert [(r.outcome, r.reason, r.retry_after_s) for r in results] == [(outcome, reason, retry_after)] * 3
    assert len(sim.ledger) == 0


async def test_expired_provider_token_is_made_again_and_retried_once(sim, channel):
    await channel.send(make_notice(), devices(1))
    sim.expire_provider_tokens()
    results = await channel.send(make_notice(), devices(10, start=1))
    assert all(r.ok for r in results)
    assert len(sim.provider_tokens_seen) == 2  # one new JWT for all ten streams
    assert len(sim.ledger) == 11


async def test_provider_token_older_than_an_hour_is_refused_then_replaced(sim, channel, team_key):
    await channel.open()
    key_id, team_id, pem = team_key
    channel._jwt = jwt.encode({"iss": team_id, "iat": int(time.time()) - 3700}, pem, algorithm="ES256",
                              headers={"kid": key_id})
    channel._jwt_made_at = time.time()
    [result] = await channel.send(make_notice(), devices(1))
    assert result.ok
    assert sim.requests == 2


async def test_provider_token_is_reused_within_its_window(sim, channel):
    await channel.send(make_notice(), devices(5))
    await channel.send(make_notice(), devices(5))
    assert len(sim.provider_tokens_seen) == 1
    channel._jwt_made_at -= 41 * 60
    await channel.send(make_notice(), devices(1))
    assert len(sim.provider_tokens_seen) == 2


async def test_token_signed_by_another_key_is_invalid(sim, team_key):
    _, _, other_pem = ApnsSimulator.make_team_key()
    ch = await open_channel(settings_for(sim, team_key, private_key_pem=other_pem))
    try:
        results = await ch.send(make_notice(), devices(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason, r.detail) for r in results} == {(Outcome.PERMANENT, Reason.AUTH, "403 InvalidProviderToken")}


async def test_protocol_faults_without_injection(sim, team_key):
    """Malformed tokens, a foreign topic and unregistered devices come back as the provider says them."""
    sim.faults.unregistered_fraction = 0.3
    ch = await open_channel(settings_for(sim, team_key))
    wrong_topic = await open_channel(settings_for(sim, team_key, topic="org.other.app"))
    try:
        recipients = devices(40)
        results = await ch.send(make_notice(), recipients + [Recipient(1000, "zz" * 32)])
        foreign = await wrong_topic.send(make_notice(), devices(1, start=500))
    finally:
        await ch.close()
        await wrong_topic.close()
    gone = [sim.faults.unregistered(r.endpoint) for r in recipients]
    assert 0 < sum(gone) < 40
    assert [r.outcome is Outcome.GONE for r in results[:40]] == gone
    assert {r.reason for r, g in zip(results, gone) if g} == {Reason.UNREGISTERED}
    assert (results[40].outcome, results[40].reason) == (Outcome.GONE, Reason.INVALID_ENDPOINT)
    assert (foreign[0].outcome, foreign[0].reason, foreign[0].detail) == (
        Outcome.GONE, Reason.INVALID_ENDPOINT, "400 DeviceTokenNotForTopic")
    assert len(sim.ledger) == 40 - sum(gone)


async def test_streams_in_flight_are_bounded_by_max_in_flight(sim, channel):
    sim.faults.latency_ms = (100.0, 100.0)
    results = await channel.send(make_notice(), devices(400))
    assert all(r.ok for r in results)
    assert 20 <= sim.peak_in_flight <= ApnsChannel.max_in_flight


async def test_tls_with_alpn_h2(team_key):
    sim = await ApnsSimulator(team_key=team_key, topic="org.example.alerts", tls=True).start()
    assert sim.url.startswith("https://")
    ch = await open_channel(settings_for(sim, team_key))
    try:
        results = await ch.send(make_notice(), devices(3))
    finally:
        await ch.close()
        await sim.stop()
    assert all(r.ok for r in results)
    assert len(sim.ledger) == 3


async def test_dropped_connection_and_accept_then_stall(sim, team_key):
    ch = await open_channel(settings_for(sim, team_key, request_timeout_s=0.3))
    try:
        sim.faults.drop_rate = 1.0
        dropped = await ch.send(make_notice(), devices(2))
        sim.faults.drop_rate = 0.0
        sim.faults.accept_then_stall_rate = 1.0
        sim.faults.stall_s = 5
        stalled = await ch.send(make_notice(), devices(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in dropped} == {(Outcome.RETRY, Reason.CONNECTION)}
    assert {(r.outcome, r.reason) for r in stalled} == {(Outcome.RETRY, Reason.TIMEOUT)}
    assert len(sim.ledger) == 2


async def test_expired_notice_is_not_sent(sim, channel):
    results = await channel.send(make_notice(expires_at=time.time() - 1), devices(2))
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.EXPIRED)}
    assert sim.requests == 0


async def test_long_body_and_collapse_key_are_cut_to_fit(sim, channel):
    body = "Évacuez immédiatement — 立即撤离 🚨 " * 300
    collapse = "é" * 40  # 80 bytes
    [result] = await channel.send(make_notice(body=body, collapse_key=collapse), devices(1))
    assert result.ok
    sent = sim.last_body["aps"]["alert"]["body"]
    assert sent.endswith("…") and body.startswith(sent[:-1])
    assert len(json.dumps(sim.last_body, ensure_ascii=False, separators=(",", ":")).encode()) <= 4096
    assert sim.last_headers["apns-collapse-id"] == hashlib.sha256(collapse.encode()).hexdigest()
    assert sim.ledger.entries[0].collapse_key == sim.last_headers["apns-collapse-id"]


def test_classify_unknown_answer():
    result = classify_apns(418, {"reason": "Teapot"}, {})
    assert (result.outcome, result.reason) == (Outcome.PERMANENT, Reason.UNKNOWN)
    assert classify_apns(502, {}, {}).outcome is Outcome.RETRY


@pytest.mark.parametrize("value, expected", [
    ("a" * 64, "a" * 64),
    ("ABCDEF0123456789" * 4, ("ABCDEF0123456789" * 4).lower()),
    ("<" + "0f" * 32 + ">", "0f" * 32),
    ("0f0f0f0f " * 8, "0f0f0f0f" * 8),
    ("ab" * 100, "ab" * 100),
    ("a" * 63, None),
    ("ab" * 100 + "a", None),
    ("g" * 64, None),
    ("", None),
])
def test_validate_endpoint(value, expected):
    if expected is not None:
        assert ApnsChannel.validate_endpoint(value) == expected
    else:
        with pytest.raises(ValueError, match="APNs device token"):
            ApnsChannel.validate_endpoint(value)


def test_settings_from_env(tmp_path):
    s = ApnsSettings.from_env({"WARNCAST_APNS_URL": "https://api.push.apple.com", "WARNCAST_APNS_TEAM_ID": "T1",
                               "WARNCAST_APNS_KEY_ID": "K1", "WARNCAST_APNS_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----x",
                               "WARNCAST_APNS_TOPIC": "org.x", "WARNCAST_APNS_CRITICAL_ALLOWED": "true"})
    assert (s.url, s.team_id, s.key_id, s.topic, s.critical_allowed) == ("https://api.push.apple.com", "T1", "K1", "org.x", True)
    assert "BEGIN" not in repr(s)
    with pytest.raises(ValueError, match="cannot be read"):
        ApnsSettings(private_key_file=str(tmp_path / "missing.p8")).signing_key()


@pytest.mark.parametrize("connections", [1, 4])
async def test_streams_are_spread_over_a_pool_of_connections(sim, team_key, connections):
    ch = await open_channel(settings_for(sim, team_key, connections=connections))
    try:
        results = await ch.send(make_notice(), devices(400))
        assert all(r.ok for r in results) and len(sim.ledger.entries) == 400
        assert len(sim._connections) == connections
    finally:
        await ch.close()
