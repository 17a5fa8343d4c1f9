from __future__ import annotations

import json
import time

import aiohttp
import pytest
from aiohttp import web

from channels.base import Notice, Outcome, Reason, Receipt, ReceiptStatus, Recipient
from channels.sms import (
    SignatureError, SmsChannel, SmsSettings, classify_sms_response, sign_reports, verify_and_parse_reports,
)
from loadtest.simulators.base import Faults
from loadtest.simulators.sms import SmsGatewaySimulator

SECRET = "test-callback-secret"
API_KEY = "test-api-key"


def notice(body: str = "【北京市预警信息发布中心】暴雨橙色预警，朝阳区，请减少外出。", alert_id: int = 42) -> Notice:
    return Notice(alert_id=alert_id, identifier="CN-BJ-2024-0001", lang="zh", title="暴雨橙色预警", body=body,
                  severity="Severe", urgency="Immediate", expires_at=time.time() + 3600, collapse_key="a42")


def numbers(n: int, start: int = 0) -> list[Recipient]:
    return [Recipient(subscriber_id=i, endpoint=f"+86139{i:08d}") for i in range(start, start + n)]


class CallbackSink:
    """warncast's side of the delivery-report callback, verifying as the real endpoint does."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.rejected = 0
        self.requests = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        try:
            self.receipts += verify_and_parse_reports(body, request.headers, SECRET, time.time())
        except SignatureError:
            self.rejected += 1
            return web.Response(status=401)
        return web.Response(status=204)


@pytest.fixture
async def sink():
    s = CallbackSink()
    app = web.Application()
    app.router.add_post("/callbacks/sms", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    s.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/callbacks/sms"
    yield s
    await runner.cleanup()


@pytest.fixture
async def sim():
    s = SmsGatewaySimulator(Faults(seed=7), api_key=API_KEY, callback_secret=SECRET)
    await s.start("127.0.0.1", 0)
    yield s
    await s.stop()


async def make_channel(sim, sink=None, **overrides) -> SmsChannel:
    overrides.setdefault("timeout_s", 2.0)
    settings = SmsSettings(url=sim.url, api_key=API_KEY, callback_secret=SECRET,
                           callback_url=sink.url if sink else "", **overrides)
    ch = SmsChannel(settings)
    await ch.open()
    return ch


@pytest.mark.parametrize("fmt", ["json", "form"])
async def test_batch_is_accepted_and_recorded(sim, sink, fmt):
    ch = await make_channel(sim, sink, format=fmt)
    try:
        results = await ch.send(notice(), numbers(25))
    finally:
        await ch.close()
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 25
    assert len({r.provider_id for r in results}) == 25
    assert sim.requests == 1 and sim.batch_sizes == [25]
    assert sim.ledger.count(42) == 25 and sim.ledger.duplicates() == 0
    assert sim.ledger.recipients(42) == {r.endpoint for r in numbers(25)}


async def test_batch_size_is_respected(sim):
    ch = await make_channel(sim, batch=10)
    try:
        assert ch.max_batch == 10
        results = await ch.send(notice(), numbers(35))
    finally:
        await ch.close()
    assert all(r.ok for r in results)
    assert sim.requests == 4 and sorted(sim.batch_sizes) == [5, 10, 10, 10]


async def test_invalid_numbers_are_gone_per_number(sim):
    sim.faults.unregistered_fraction = 0.3
    recipients = numbers(60)
    ch = await make_channel(sim)
    try:
        results = await ch.send(notice(), recipients)
        again = await ch.send(notice(), recipients)
    finally:
        await ch.close()
    invalid = {r.endpoint for r in recipients if sim.faults.unregistered(r.endpoint)}
    assert 0 < len(invalid) < 60
    for rcpt, res, res2 in zip(recipients, results, again):
        if rcpt.endpoint in invalid:
            assert (res.outcome, res.reason) == (Outcome.GONE, Reason.INVALID_ENDPOINT)
            assert res2.outcome is Outcome.GONE          # stable per number
        else:
            assert res.ok and res2.ok
    assert sim.ledger.count(42) == 2 * (60 - len(invalid))


async def test_malformed_endpoint_never_leaves(sim):
    ch = await make_channel(sim)
    try:
        results = await ch.send(notice(), [Recipient(1, "13912345678"), Recipient(2, "+8613912345678")])
    finally:
        await ch.close()
    assert results[0].outcome is Outcome.GONE and results[1].ok
    assert sim.batch_sizes == [1]


@pytest.mark.parametrize("code, outcome, reason, retry_after", [
    ("429", Outcome.RETRY, Reason.THROTTLED, 7.0),
    ("500", Outcome.RETRY, Reason.SERVER_ERROR, None),
    ("503", Outcome.RETRY, Reason.SERVER_ERROR, 7.0),
])
async def test_http_errors_apply_to_the_whole_batch(sim, code, outcome, reason, retry_after):
    sim.faults.update({"error_rates": {code: 1.0}, "retry_after_s": 7})
    ch = await make_channel(sim)
    try:
        results = await ch.send(notice(), numbers(5))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason, r.retry_after_s) for r in results} == {(outcome, reason, retry_after)}
    assert len(sim.ledger) == 0


async def test_wrong_api_key_is_permanent_auth(sim):
    settings = SmsSettings(url=sim.url, api_key="wrong", callback_url="")
    ch = SmsChannel(settings)
    try:
        results = await ch.send(notice(), numbers(3))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.AUTH)}


async def test_down_gateway_and_dropped_connection_retry(sim):
    ch = await make_channel(sim)
    try:
        sim.faults.down = True
        down = await ch.send(notice(), numbers(2))
        sim.faults.down = False
        sim.faults.drop_rate = 1.0
        dropped = await ch.send(notice(), numbers(2))
    finally:
        await ch.close()
    assert {r.outcome for r in down} == {Outcome.RETRY}
    assert {(r.outcome, r.reason) for r in dropped} == {(Outcome.RETRY, Reason.CONNECTION)}


async def test_accept_then_stall_times_out(sim):
    sim.faults.update({"accept_then_stall_rate": 1.0, "stall_s": 1.0})
    ch = await make_channel(sim, timeout_s=0.3)
    try:
        results = await ch.send(notice(), numbers(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.RETRY, Reason.TIMEOUT)}
    assert len(sim.ledger) == 2        # the gateway took them: a retry will duplicate, as in life


async def test_text_over_max_parts_is_refused_before_sending(sim):
    ch = await make_channel(sim, max_parts=2)
    try:
        results = await ch.send(notice(body="中" * 135), numbers(3))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE)}
    assert sim.requests == 0


async def test_ledger_and_faults_endpoints(sim):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.url}/_faults", json={"unregistered_fraction": 0.5}) as resp:
            assert resp.status == 200
            assert (await resp.json())["unregistered_fraction"] == 0.5
        async with http.post(f"{sim.url}/_faults", json={"no_such_knob": 1}) as resp:
            assert resp.status == 400
        ch = await make_channel(sim)
        try:
            await ch.send(notice(), numbers(10))
        finally:
            await ch.close()
        async with http.get(f"{sim.url}/_ledger") as resp:
            doc = await resp.json()
    assert doc["accepted"] == len(sim.ledger) and doc["requests"] == 1
    assert 0 < doc["accepted"] < 10


# --- classification table -----------------------------------------------------------------------

@pytest.mark.parametrize("status, headers, payload, expected", [
    (200, {}, {"results": [{"to": "+1", "status": "accepted", "message_id": "m1"}]}, (Outcome.ACCEPTED, Reason.OK)),
    (200, {}, {"results": [{"to": "+1", "status": "rejected", "error": "INVALID_NUMBER"}]},
     (Outcome.GONE, Reason.INVALID_ENDPOINT)),
    (200, {}, {"results": [{"to": "+1", "status": "rejected", "error": "BLACKLISTED"}]},
     (Outcome.PERMANENT, Reason.BAD_REQUEST)),
    (200, {}, {"results": [{"to": "+1", "status": "rejected", "error": "SOMETHING_NEW"}]},
     (Outcome.PERMANENT, Reason.UNKNOWN)),
    (200, {}, {"results": []}, (Outcome.RETRY, Reason.UNKNOWN)),
    (200, {}, None, (Outcome.RETRY, Reason.SERVER_ERROR)),
    (429, {"Retry-After": "12"}, None, (Outcome.RETRY, Reason.THROTTLED)),
    (502, {}, None, (Outcome.RETRY, Reason.SERVER_ERROR)),
    (401, {}, None, (Outcome.PERMANENT, Reason.AUTH)),
    (403, {}, None, (Outcome.PERMANENT, Reason.AUTH)),
    (413, {}, None, (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE)),
    (400, {}, None, (Outcome.PERMANENT, Reason.BAD_REQUEST)),
])
def test_classify_sms_response(status, headers, payload, expected):
    (res,) = classify_sms_response(status, headers, payload, ["+1"])
    assert (res.outcome, res.reason) == expected
    if status == 429:
        assert res.retry_after_s == 12.0


# --- signed delivery reports --------------------------------------------------------------------

async def test_receipts_reach_the_callback_signed(sim, sink):
    sim.faults.update({"receipt_failed_rate": 0.5, "receipt_duplicate_rate": 0.3, "receipt_out_of_order": True,
                       "receipt_delay_s": [0.05, 0.2]})
    ch = await make_channel(sim, sink)
    try:
        results = await ch.send(notice(), numbers(40))
    finally:
        await ch.close()
    await sim.drain_receipts()
    ids = {r.provider_id for r in results}
    assert sink.rejected == 0 and sim.callback_failures == 0
    assert {r.provider_id for r in sink.receipts} == ids
    assert len(sink.receipts) > 40                          # duplicates arrive too
    statuses = {r.status for r in sink.receipts}
    assert statuses == {ReceiptStatus.DELIVERED, ReceiptStatus.FAILED}
    failed = [r for r in sink.receipts if r.status is ReceiptStatus.FAILED]
    assert all(r.error_code == "DEST_UNREACHABLE" for r in failed)
    assert all(r.channel == "sms" and r.done_at for r in sink.receipts)


def signed(body: bytes, ts: float | None = None, secret: str = SECRET) -> dict[str, str]:
    t = str(int(time.time() if ts is None else ts))
    return {"X-Timestamp": t, "X-Signature": sign_reports(secret, t, body)}


REPORTS = json.dumps({"reports": [
    {"message_id": "m1", "status": "DELIVERED", "error_code": "", "done_at": 1700000000},
    {"message_id": "m2", "status": "EXPIRED", "error_code": "", "done_at": 1700000001},
    {"message_id": "m3", "status": "UNDELIVERABLE", "error_code": "E12", "done_at": 1700000002},
    {"message_id": "m4", "status": "ENROUTE"},
]}).encode()


def test_valid_signature_parses_reports():
    receipts = verify_and_parse_reports(REPORTS, signed(REPORTS), SECRET, time.time())
    assert [(r.provider_id, r.status, r.error_code, r.done_at) for r in receipts] == [
        ("m1", ReceiptStatus.DELIVERED, "", 1700000000.0),
        ("m2", ReceiptStatus.FAILED, "EXPIRED", 1700000001.0),
        ("m3", ReceiptStatus.FAILED, "E12", 1700000002.0),
    ]


def test_header_names_are_case_insensitive():
    headers = {k.lower(): v for k, v in signed(REPORTS).items()}
    assert len(verify_and_parse_reports(REPORTS, headers, SECRET, time.time())) == 3


@pytest.mark.parametrize("case", ["forged", "wrong_secret", "missing_signature", "missing_timestamp",
                                  "stale", "future", "tampered_body", "malformed_body", "bad_timestamp"])
def test_bad_callbacks_raise_signature_error(case):
    now = time.time()
    body, headers = REPORTS, signed(REPORTS)
    if case == "forged":
        headers["X-Signature"] = "0" * 64
    elif case == "wrong_secret":
        headers = signed(REPORTS, secret="other")
    elif case == "missing_signature":
        del headers["X-Signature"]
    elif case == "missing_timestamp":
        del headers["X-Timestamp"]
    elif case == "stale":
        headers = signed(REPORTS, ts=now - 301)
    elif case == "future":
        headers = signed(REPORTS, ts=now + 301)
    elif case == "tampered_body":
        body = REPORTS.replace(b"DELIVERED", b"FAILED")
    elif case == "malformed_body":
        body = b'{"reports": [{"status": "DELIVERED"}]}'
        headers = signed(body)
    elif case == "bad_timestamp":
        headers["X-Timestamp"] = "yesterday"
    with pytest.raises(SignatureError):
        verify_and_parse_reports(body, headers, SECRET, now)


def test_replayed_callback_within_window_is_accepted_but_outside_is_not():
    headers = signed(REPORTS, ts=1_000_000)
    assert verify_and_parse_reports(REPORTS, headers, SECRET, now=1_000_299)
    with pytest.raises(SignatureError):
        verify_and_parse_reports(REPORTS, headers, SECRET, now=1_000_301)


# --- endpoint validation and settings ------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("+8613912345678", "+8613912345678"),
    ("13912345678", "+8613912345678"),
    ("139 1234 5678", "+8613912345678"),
    ("139 1234 5678", "+8613912345678"),
    ("+44 7911 123456", "+447911123456"),
])
def test_validate_endpoint_accepts(value, expected):
    assert SmsChannel.validate_endpoint(value) == expected


@pytest.mark.parametrize("value", ["", "hello", "+86139", "12345", "+99912345678"])
def test_validate_endpoint_rejects(value):
    with pytest.raises(ValueError, match="sms endpoint"):
        SmsChannel.validate_endpoint(value)


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("WARNCAST_SMS_URL", "http://gw.example:9000/")
    monkeypatch.setenv("WARNCAST_SMS_API_KEY", "k-123")
    monkeypatch.setenv("WARNCAST_SMS_BATCH", "200")
    monkeypatch.setenv("WARNCAST_SMS_FORMAT", "form")
    monkeypatch.setenv("WARNCAST_SMS_MAX_PARTS", "3")
    monkeypatch.setenv("WARNCAST_SMS_CALLBACK_SECRET", "cb-secret-456")
    s = SmsSettings.from_env()
    assert (s.url, s.api_key, s.batch, s.format, s.max_parts) == ("http://gw.example:9000", "k-123", 200, "form", 3)
    assert s.callback_secret == "cb-secret-456"
    assert "k-123" not in repr(s) and "cb-secret-456" not in repr(s)
    monkeypatch.setenv("WARNCAST_SMS_FORMAT", "xml")
    with pytest.raises(ValueError, match="WARNCAST_SMS_FORMAT"):
        SmsSettings.from_env()


def _ok(to: str, mid: str) -> dict:
    return {"to": to, "status": "accepted", "message_id": mid}


@pytest.mark.parametrize("numbers, results, expected", [
    (["+1", "+2"], [_ok("+1", "a"), _ok("+2", "b")], ["a", "b"]),                       # in order
    (["+1", "+2"], [_ok("+2", "b"), _ok("+1", "a")], ["a", "b"]),                       # reordered
    (["+1", "+1"], [_ok("+1", "a"), _ok("+1", "b")], ["a", "b"]),                       # same number twice
    (["+1", "+2"], [_ok("+1", "a"), "junk"], ["a", "retry"]),                           # unreadable entry
    (["+1", "+2"], [_ok("+1", "a")], ["a", "retry"]),                                   # missing entry
    (["+1", "+2"], [_ok("+1", "a"), {"to": "+2", "status": "rejected", "error": "INVALID_NUMBER"}],
     ["a", "gone"]),
])
def test_each_number_gets_its_own_answer(numbers, results, expected):
    got = classify_sms_response(200, {}, {"results": results}, numbers)
    assert [r.provider_id if r.ok else r.outcome.value for r in got] == expected
