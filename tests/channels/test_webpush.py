"""WebPushChannel against the Web Push service simulator on loopback."""
from __future__ import annotations

import base64
import json
import time

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from channels.base import Notice, Outcome, Reason, Recipient
from channels.webpush import WebPushChannel, WebPushSettings, classify_webpush, topic_for
from loadtest.simulators.base import Faults
from loadtest.simulators.webpush import WebPushSimulator, derive_keys


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_notice(**kw) -> Notice:
    values = dict(alert_id=314, identifier="BJ-2025-0314", lang="zh", title="高温黄色预警", body="减少户外活动。",
                  severity="Severe", urgency="Expected", expires_at=time.time() + 7200,
                  collapse_key="alert-314", msg_type="Alert")
    values.update(kw)
    return Notice(**values)


@pytest.fixture(scope="module")
def vapid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def vapid_raw(key: ec.EllipticCurvePrivateKey) -> str:
    return b64(key.private_numbers().private_value.to_bytes(32, "big"))


@pytest.fixture
async def sim():
    s = await WebPushSimulator(Faults(seed=11, retry_after_s=4)).start()
    yield s
    await s.stop()


@pytest.fixture
async def channel(vapid_key):
    ch = WebPushChannel(WebPushSettings(vapid_private_key=vapid_raw(vapid_key), vapid_subject="mailto:ops@example.org",
                                        request_timeout_s=2))
    await ch.open()
    yield ch
    await ch.close()


def subscribers(sim: WebPushSimulator, n: int, start: int = 0) -> list[Recipient]:
    return [Recipient(i, json.dumps(sim.make_subscription(i))) for i in range(start, start + n)]


async def test_success_records_every_subscription_with_location(sim, channel):
    recipients = subscribers(sim, 30)
    results = await channel.send(make_notice(), recipients)
    assert all(r.ok for r in results)
    assert all(r.provider_id.startswith(f"{sim.url}/m/") for r in results)
    assert len(sim.ledger) == 30
    assert sim.ledger.recipients(314) == {str(i) for i in range(30)}
    assert {e.collapse_key for e in sim.ledger.entries} == {"alert-314"}


async def test_payload_decrypts_independently_to_the_json_sent(sim, channel):
    notice = make_notice()
    [result] = await channel.send(notice, subscribers(sim, 1, start=7))
    assert result.ok
    private_key, auth = derive_keys("/push/7")
    plaintext = http_ece.decrypt(sim.last_raw_body, private_key=private_key, auth_secret=auth, version="aes128gcm")
    assert plaintext == channel.build_payload(notice)
    assert json.loads(plaintext) == {
        "title": "高温黄色预警", "body": "减少户外活动。", "lang": "zh",
        "data": {"alert_id": "314", "identifier": "BJ-2025-0314", "severity": "Severe", "msgType": "Alert"},
    }


async def test_each_message_uses_a_fresh_ephemeral_key(sim, channel):
    recipients = subscribers(sim, 1)
    await channel.send(make_notice(), recipients)
    first = sim.last_raw_body
    await channel.send(make_notice(), recipients)
    second = sim.last_raw_body
    key_id = slice(21, 21 + 65)  # salt(16) rs(4) idlen(1) then the sender's public key
    assert first[key_id] != second[key_id] and first[:16] != second[:16]


@pytest.mark.parametrize("severity, urgency", [("Extreme", "high"), ("Severe", "high"), ("Moderate", "normal"),
                                               ("Minor", "normal")])
async def test_headers_ttl_urgency_topic_and_encoding(sim, channel, severity, urgency):
    await channel.send(make_notice(severity=severity, expires_at=time.time() + 1000), subscribers(sim, 1))
    h = sim.last_headers
    assert h["content-encoding"] == "aes128gcm"
    assert 995 <= int(h["ttl"]) <= 1000
    assert h["urgency"] == urgency
    assert h["topic"] == "alert-314"


async def test_ttl_is_never_below_a_minute(sim, channel):
    [result] = await channel.send(make_notice(expires_at=time.time() + 5), subscribers(sim, 1))
    assert result.ok
    assert sim.last_headers["ttl"] == "60"


async def test_vapid_jwt_audience_expiry_subject_and_key(sim, channel, vapid_key):
    await channel.send(make_notice(), subscribers(sim, 1))
    scheme, _, params = sim.last_headers["authorization"].partition(" ")
    assert scheme == "vapid"
    values = dict(p.strip().split("=", 1) for p in params.split(","))
    public = vapid_key.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)
    assert values["k"] == b64(public) == channel.vapid_public_key
    claims = jwt.decode(values["t"], vapid_key.public_key(), algorithms=["ES256"], audience=sim.url)
    assert claims["sub"] == "mailto:ops@example.org"
    assert 0 < claims["exp"] - time.time() <= 24 * 3600


async def test_simulator_pinned_to_another_application_server_key_refuses(channel):
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    sim = await WebPushSimulator(vapid_public_key=b64(other)).start()
    try:
        results = await channel.send(make_notice(), subscribers(sim, 2))
    finally:
        await sim.stop()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.AUTH)}
    assert len(sim.ledger) == 0


async def test_subscription_with_wrong_keys_fails_to_decrypt(sim, channel):
    sub = sim.make_subscription(1)
    sub["keys"] = sim.make_subscription(2)["keys"]  # keys of another subscriber
    [result] = await channel.send(make_notice(), [Recipient(1, json.dumps(sub))])
    assert (result.outcome, result.reason) == (Outcome.PERMANENT, Reason.BAD_REQUEST)
    assert len(sim.ledger) == 0


@pytest.mark.parametrize("knob, outcome, reason, retry_after", [
    ("404", Outcome.GONE, Reason.UNREGISTERED, None),
    ("410", Outcome.GONE, Reason.UNREGISTERED, None),
    ("413", Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE, None),
    ("429", Outcome.RETRY, Reason.THROTTLED, 4.0),
    ("400", Outcome.PERMANENT, Reason.BAD_REQUEST, None),
    ("500", Outcome.RETRY, Reason.SERVER_ERROR, None),
    ("503", Outcome.RETRY, Reason.SERVER_ERROR, 4.0),
])
async def test_every_status_is_classified(sim, channel, knob, outcome, reason, retry_after):
    sim.faults.error_rates = {knob: 1.0}
    results = await channel.send(make_notice(), subscribers(sim, 3))
    assert [(r.outcome, r.reason, r.retry_after_s) for r in results] == [(outcome, reason, retry_after)] * 3
    assert len(sim.ledger) == 0


async def test_unsubscribed_endpoints_are_gone_and_stable(sim, channel):
    sim.faults.unregistered_fraction = 0.3
    recipients = subscribers(sim, 40)
    first = await channel.send(make_notice(), recipients)
    second = await channel.send(make_notice(alert_id=315), recipients)
    gone = [r.outcome is Outcome.GONE for r in first]
    assert 0 < sum(gone) < 40
    assert gone == [r.outcome is Outcome.GONE for r in second]
    assert len(sim.ledger) == 2 * (40 - sum(gone))


async def test_unparseable_subscription_is_gone_without_a_request(sim, channel):
    [result] = await channel.send(make_notice(), [Recipient(1, '{"endpoint": "ftp://x"}')])
    assert (result.outcome, result.reason) == (Outcome.GONE, Reason.INVALID_ENDPOINT)
    assert sim.requests == 0


async def test_dropped_connection_stall_and_down(sim, vapid_key):
    ch = WebPushChannel(WebPushSettings(vapid_private_key=vapid_raw(vapid_key), request_timeout_s=0.3))
    await ch.open()
    try:
        sim.faults.drop_rate = 1.0
        dropped = await ch.send(make_notice(), subscribers(sim, 2))
        sim.faults.drop_rate = 0.0
        sim.faults.accept_then_stall_rate = 1.0
        sim.faults.stall_s = 5
        stalled = await ch.send(make_notice(), subscribers(sim, 2))
        sim.faults.accept_then_stall_rate = 0.0
        sim.faults.down = True
        down = await ch.send(make_notice(), subscribers(sim, 1))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in dropped} == {(Outcome.RETRY, Reason.CONNECTION)}
    assert {(r.outcome, r.reason) for r in stalled} == {(Outcome.RETRY, Reason.TIMEOUT)}
    assert (down[0].outcome, down[0].reason, down[0].retry_after_s) == (Outcome.RETRY, Reason.SERVER_ERROR, 4.0)
    assert len(sim.ledger) == 2


async def test_expired_notice_is_not_sent(sim, channel):
    results = await channel.send(make_notice(expires_at=time.time() - 1), subscribers(sim, 2))
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.EXPIRED)}
    assert sim.requests == 0


async def test_long_body_fits_one_record(sim, channel):
    body = "高温🔥" * 2000
    [result] = await channel.send(make_notice(body=body), subscribers(sim, 1))
    assert result.ok
    assert len(sim.last_plaintext) <= 3993
    assert len(sim.last_raw_body) <= 4096
    sent = sim.last_body["body"]
    assert sent.endswith("…") and body.startswith(sent[:-1])


async def test_vapid_key_made_and_kept_in_its_file(tmp_path, sim):
    path = tmp_path / "vapid.pem"
    ch = WebPushChannel(WebPushSettings(vapid_private_key_file=str(path)))
    await ch.open()
    try:
        [result] = await ch.send(make_notice(), subscribers(sim, 1))
        public = ch.vapid_public_key
    finally:
        await ch.close()
    assert result.ok and path.exists()
    again = WebPushChannel(WebPushSettings(vapid_private_key_file=str(path)))
    await again.open()
    await again.close()
    assert again.vapid_public_key == public


@pytest.mark.parametrize("collapse_key, topic", [
    ("alert-314", "alert-314"),
    ("A_b-9" * 6 + "xy", "A_b-9" * 6 + "xy"),
])
def test_topic_keeps_a_valid_collapse_key(collapse_key, topic):
    assert topic_for(collapse_key) == topic


@pytest.mark.parametrize("collapse_key", ["a" * 33, "预警:1", "has space", "x.y"])
def test_topic_stands_in_for_an_invalid_collapse_key(collapse_key):
    topic = topic_for(collapse_key)
    assert len(topic) == 32 and topic.replace("-", "").replace("_", "").isalnum()
    assert topic == topic_for(collapse_key) != topic_for(collapse_key + "!")


def test_classify_unknown_status():
    result = classify_webpush(418, {}, {})
    assert (result.outcome, result.reason) == (Outcome.PERMANENT, Reason.UNKNOWN)


def _sub(endpoint="https://push.example.net/wpush/v2/abc", p256dh: str | bytes | None = None,
         auth: str | bytes | None = None) -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    p = p256dh if p256dh is not None else key
    a = auth if auth is not None else b"0123456789abcdef"
    return json.dumps({"endpoint": endpoint, "keys": {"p256dh": p if isinstance(p, str) else b64(p),
                                                      "auth": a if isinstance(a, str) else b64(a)}})


@pytest.mark.parametrize("value, error", [
    (_sub(), None),
    (_sub(endpoint="http://127.0.0.1:8080/push/1"), None),
    ("not json", "JSON object"),
    ("[1, 2]", "JSON object"),
    ('{"keys": {}}', "lacks endpoint"),
    (_sub(endpoint="ftp://push.example.net/x"), "http\\(s\\) URL"),
    (_sub(endpoint="https:///nohost"), "http\\(s\\) URL"),
    (json.dumps({"endpoint": "https://push.example.net/x"}), "lacks keys"),
    (_sub(p256dh="***"), "p256dh is not base64url"),
    (_sub(p256dh=b"\x04" + b"\x01" * 32), "65-byte uncompressed"),
    (_sub(p256dh=b"\x02" + b"\x01" * 64), "65-byte uncompressed"),
    (_sub(p256dh=b"\x04" + b"\x01" * 64), "not a point on P-256"),
    (_sub(auth=b"short"), "auth must be 16 bytes"),
    (_sub(auth="@@"), "auth is not base64url"),
])
def test_validate_endpoint(value, error):
    if error is None:
        normal = WebPushChannel.validate_endpoint(value)
        assert json.loads(normal) == json.loads(value)
    else:
        with pytest.raises(ValueError, match=error):
            WebPushChannel.validate_endpoint(value)


def test_validate_endpoint_normalises_padding_and_whitespace():
    sub = json.loads(_sub())
    sub["keys"]["auth"] += "=="
    sub["extra"] = {"expirationTime": None}
    normal = json.loads(WebPushChannel.validate_endpoint(json.dumps(sub, indent=2)))
    assert normal["keys"]["auth"] == sub["keys"]["auth"].rstrip("=")
    assert set(normal) == {"endpoint", "keys"}


def test_settings_from_env():
    s = WebPushSettings.from_env({"WARNCAST_WEBPUSH_VAPID_PRIVATE_KEY": "c2VjcmV0",
                                  "WARNCAST_WEBPUSH_VAPID_SUBJECT": "https://warncast.example.org/contact"})
    assert s.vapid_subject == "https://warncast.example.org/contact"
    assert "c2VjcmV0" not in repr(s)
    with pytest.raises(ValueError, match="32 bytes"):
        s.vapid_key()
