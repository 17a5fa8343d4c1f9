from __future__ import annotations

import asyncio
import time

import pytest

from channels.base import Notice, Outcome, Reason, Receipt, ReceiptStatus, Recipient, Result
from channels.smpp import (
    SmppChannel, SmppSettings, classify_smpp_status, encode_parts, receipt_from_deliver_sm, worst,
)
from channels.smpp_pdu import (
    Cmd, DataCoding, EsmClass, Pdu, PduError, Status, Tag, c_string, decode, parse_receipt_text, split_udh,
    udh_concat,
)
from channels.sms_text import segments
from loadtest.simulators.base import Faults
from loadtest.simulators.smpp import SmppSimulator
from tests.waiting import until

ZH = "【北京市预警信息发布中心】暴雨橙色预警，朝阳区，请减少外出。"


def notice(body: str = ZH, alert_id: int = 42) -> Notice:
    return Notice(alert_id=alert_id, identifier="CN-BJ-2024-0001", lang="zh", title="暴雨橙色预警", body=body,
                  severity="Severe", urgency="Immediate", expires_at=time.time() + 3600, collapse_key="a42")


def numbers(n: int, start: int = 0) -> list[Recipient]:
    return [Recipient(subscriber_id=i, endpoint=f"+86139{i:08d}") for i in range(start, start + n)]


@pytest.fixture
async def sim():
    s = SmppSimulator(Faults(seed=3))
    await s.start("127.0.0.1", 0)
    yield s
    await s.stop()


class Harness:
    """An SmppChannel opened against the simulator, collecting its receipts in ``receipts``."""

    def __init__(self, sim: SmppSimulator, **overrides) -> None:
        overrides.setdefault("response_timeout_s", 2.0)
        overrides.setdefault("connect_timeout_s", 2.0)
        self.receipts: list[Receipt] = []
        self.channel = SmppChannel(SmppSettings(host=sim.host, port=sim.port, **overrides),
                                   on_receipt=self.receipts.append)

    def __getattr__(self, name: str):
        return getattr(self.channel, name)

    async def __aenter__(self) -> "Harness":
        await self.channel.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.channel.close()


async def test_bind_and_unbind(sim):
    async with Harness(sim) as ch:
        assert ch.bound and sim.binds == 1 and sim.sessions == 1
    await until(lambda: sim.sessions == 0, what="the SMSC seeing the session end")
    assert not ch.bound


async def test_wrong_password_is_permanent_auth(sim):
    ch = SmppChannel(SmppSettings(host=sim.host, port=sim.port, password="nope", connect_timeout_s=0.3))
    await ch.open()
    try:
        assert not ch.bound
        results = await ch.send(notice(), numbers(2))
    finally:
        await ch.close()
    assert ch.bind_error == Status.ESME_RINVPASWD
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.PERMANENT, Reason.AUTH)}
    assert sim.bind_failures >= 1 and len(sim.ledger) == 0


@pytest.mark.parametrize("text, coding", [
    ("Rainstorm warning: stay indoors {zone 3} ~ €", DataCoding.DEFAULT),
    (ZH, DataCoding.UCS2),
    ("Flood 🌊 warning", DataCoding.UCS2),
])
async def test_submit_single_part(sim, text, coding):
    async with Harness(sim) as ch:
        results = await ch.send(notice(text), numbers(3))
    assert all(r.ok and r.provider_id for r in results)
    assert encode_parts(text)[0] == coding
    assert sim.ledger.count(42) == 3 and sim.ledger.recipients(42) == {r.endpoint for r in numbers(3)}
    assert {sim.texts[r.provider_id] for r in results} == {text}


@pytest.mark.parametrize("text, parts", [
    ("暴雨红色预警。" * 30, 4),           # 210 UCS-2 code units -> 4 parts of <= 67
    ("Stay indoors [now]. " * 20, 3),     # GSM-7 with escapes, 440 septets -> 3 parts of <= 153
])
async def test_long_message_is_split_and_reassembled(sim, text, parts):
    assert segments(text) == parts
    async with Harness(sim) as ch:
        results = await ch.send(notice(text), numbers(2))
    assert all(r.ok for r in results)
    assert sim.submits == 2 * parts
    assert len(sim.ledger) == 2                      # one entry per complete message, not per part
    for r in results:
        assert sim.texts[r.provider_id] == text       # provider id = the first part's message id


async def test_udh_parts_on_the_wire():
    coding, payloads = encode_parts("中" * 100)
    assert coding == DataCoding.UCS2 and [len(p) for p in payloads] == [134, 66]
    sm = udh_concat(7, 2, 1) + payloads[0]
    assert sm[:6] == bytes.fromhex("050003070201") and len(sm) == 140
    assert split_udh(sm) == ((7, 2, 1), payloads[0])


async def test_window_is_respected(sim):
    sim.faults.latency_ms = (30, 30)
    async with Harness(sim, window=3) as ch:
        results = await ch.send(notice(), numbers(20))
    assert all(r.ok for r in results)
    assert sim.max_outstanding == 3


async def test_window_is_used(sim):
    sim.faults.latency_ms = (30, 30)
    async with Harness(sim, window=8) as ch:
        t0 = time.monotonic()
        results = await ch.send(notice(), numbers(32))
        elapsed = time.monotonic() - t0
    assert all(r.ok for r in results)
    assert sim.max_outstanding == 8
    assert elapsed < 32 * 0.03        # pipelined, not one at a time


@pytest.mark.parametrize("error, outcome, reason", [
    ("ESME_RTHROTTLED", Outcome.RETRY, Reason.THROTTLED),
    ("ESME_RMSGQFUL", Outcome.RETRY, Reason.QUEUE_FULL),
    ("ESME_RSYSERR", Outcome.RETRY, Reason.SERVER_ERROR),
    ("ESME_RSUBMITFAIL", Outcome.PERMANENT, Reason.UNKNOWN),
])
async def test_error_statuses_are_classified(sim, error, outcome, reason):
    sim.faults.error_rates = {error: 1.0}
    async with Harness(sim) as ch:
        results = await ch.send(notice(), numbers(3))
    assert {(r.outcome, r.reason) for r in results} == {(outcome, reason)}
    assert len(sim.ledger) == 0


async def test_invalid_destination_is_gone(sim):
    sim.faults.unregistered_fraction = 0.4
    recipients = numbers(30)
    async with Harness(sim) as ch:
        results = await ch.send(notice(), recipients)
    invalid = {r.endpoint for r in recipients if sim.faults.unregistered(r.endpoint)}
    assert 0 < len(invalid) < 30
    for rcpt, res in zip(recipients, results):
        if rcpt.endpoint in invalid:
            assert (res.outcome, res.reason, res.detail) == (Outcome.GONE, Reason.INVALID_ENDPOINT, "ESME_RINVDSTADR")
        else:
            assert res.ok
    assert sim.ledger.recipients(42) == {r.endpoint for r in recipients} - invalid


async def test_multipart_result_is_the_worst_part(sim):
    sim.faults.error_rates = {"ESME_RTHROTTLED": 0.3}
    text = "暴雨。" * 60                                                # 180 units: 3 parts
    async with Harness(sim) as ch:
        results = await ch.send(notice(text), numbers(40))
    accepted = [r for r in results if r.ok]
    assert {r.outcome for r in results} == {Outcome.ACCEPTED, Outcome.RETRY}
    assert all(r.reason is Reason.THROTTLED for r in results if not r.ok)
    # a recipient is ACCEPTED exactly when the SMSC has all its parts: one complete message each
    assert len(sim.ledger) == len(accepted)
    assert all(sim.texts[r.provider_id] == text for r in accepted)


async def test_refused_first_part_stops_the_rest(sim):
    sim.faults.unregistered_fraction = 1.0
    async with Harness(sim) as ch:
        results = await ch.send(notice("暴雨。" * 60), numbers(4))
    assert {r.outcome for r in results} == {Outcome.GONE}
    assert sim.submits == 4


async def test_malformed_endpoint_and_too_long_text(sim):
    async with Harness(sim, max_parts=2) as ch:
        bad = await ch.send(notice(), [Recipient(1, "13912345678")])
        long = await ch.send(notice("中" * 200), numbers(1))
    assert (bad[0].outcome, bad[0].reason) == (Outcome.GONE, Reason.INVALID_ENDPOINT)
    assert (long[0].outcome, long[0].reason) == (Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE)
    assert sim.submits == 0


async def test_receipts_reach_the_callback(sim):
    sim.faults.update({"receipt_failed_rate": 0.5, "receipt_duplicate_rate": 0.5, "receipt_out_of_order": True,
                       "receipt_delay_s": [0.01, 0.1]})
    async with Harness(sim) as ch:
        results = await ch.send(notice(), numbers(20))
        await sim.drain_receipts()
    receipts = ch.receipts
    ids = {r.provider_id for r in results}
    assert {r.provider_id for r in receipts} == ids
    assert len(receipts) == sim.receipts_sent > 20
    assert {r.status for r in receipts} == {ReceiptStatus.DELIVERED, ReceiptStatus.FAILED}
    assert all(r.error_code == "001" for r in receipts if r.status is ReceiptStatus.FAILED)
    assert all(r.channel == "smpp" and r.done_at for r in receipts)


async def test_receipts_of_later_parts_fold_onto_the_first(sim):
    sim.faults.receipt_failed_rate = 0.0
    async with Harness(sim) as ch:
        results = await ch.send(notice("暴雨。" * 50), numbers(3))     # 150 units: 3 parts
        await sim.drain_receipts()
        delivered = list(ch.receipts)
    assert sim.receipts_sent == 9
    assert sorted(r.provider_id for r in delivered) == sorted(r.provider_id for r in results)


async def test_receipts_ahead_of_their_submit_responses_still_fold(sim):
    sim.receipts_before_responses = True
    async with Harness(sim) as ch:
        results = await ch.send(notice("暴雨。" * 50), numbers(5))     # 3 parts each
        await sim.drain_receipts()
        await until(lambda: len(ch.receipts) >= 5, what="every message's receipt")
    assert all(r.ok for r in results) and sim.receipts_sent == 15
    assert sorted(r.provider_id for r in ch.receipts) == sorted(r.provider_id for r in results)


async def test_async_receipt_callback(sim):
    got: list[Receipt] = []

    async def on_receipt(receipt: Receipt) -> None:
        await asyncio.sleep(0)
        got.append(receipt)

    ch = SmppChannel(SmppSettings(host=sim.host, port=sim.port), on_receipt=on_receipt)
    await ch.open()
    try:
        results = await ch.send(notice(), numbers(2))
        await sim.drain_receipts()
        await until(lambda: len(got) >= 2, what="both receipts through the callback")
    finally:
        await ch.close()
    assert {r.provider_id for r in got} == {r.provider_id for r in results}


async def test_reconnects_after_the_smsc_drops_the_connection(sim):
    async with Harness(sim) as ch:
        assert (await ch.send(notice(), numbers(2)))[0].ok
        await sim.drop_connections()
        await until(lambda: ch.binds == 2 and ch.bound, what="a second bind")
        results = await ch.send(notice(), numbers(2, start=10))
        assert all(r.ok for r in results)
        assert ch.binds == 2 and sim.binds == 2
    assert sim.ledger.count(42) == 4


async def test_outstanding_submits_of_a_dropped_connection_retry(sim):
    sim.faults.drop_rate = 1.0
    async with Harness(sim, connect_timeout_s=0.5) as ch:
        results = await ch.send(notice(), numbers(3))
        assert {(r.outcome, r.reason) for r in results} == {(Outcome.RETRY, Reason.CONNECTION)}
        sim.faults.drop_rate = 0.0
        again = await ch.send(notice(), numbers(3))
    assert all(r.ok for r in again)
    assert sim.ledger.count(42) == 3


async def test_receipts_held_while_disconnected_arrive_after_reconnect(sim):
    sim.faults.receipt_delay_s = (0.2, 0.2)
    async with Harness(sim) as ch:
        results = await ch.send(notice(), numbers(3))
        await sim.drop_connections()
        await sim.drain_receipts(timeout_s=5)
        got = {r.provider_id for r in ch.receipts}
    assert got == {r.provider_id for r in results}


async def test_enquire_link_both_ways(sim):
    async with Harness(sim, enquire_link_s=0.05) as ch:
        await until(lambda: sim.enquire_links_received >= 3, what="three enquire_links on the timer")
        assert await sim.enquire_link() == 1             # the SMSC's, answered
        assert ch.bound


async def test_unanswered_enquire_link_forces_a_reconnect(sim):
    async with Harness(sim, enquire_link_s=0.05, response_timeout_s=0.2) as ch:
        sim.answer_enquire_link = False
        await until(lambda: ch.binds >= 2 and ch.bound, what="a new bind after the hung session")
        assert sim.binds >= 2                          # the hung session was dropped and a new one bound
        sim.answer_enquire_link = True
        await until(lambda: ch.bound, what="a bound session")
        binds, seen = ch.binds, sim.enquire_links_received
        # healthy again: a dozen enquire_links (several response timeouts' worth) answered, no reconnect
        await until(lambda: sim.enquire_links_received >= seen + 12, what="a dozen answered enquire_links")
        assert ch.binds == binds and ch.bound


async def test_reconnect_waits_while_the_smsc_is_down(sim):
    async with Harness(sim) as ch:
        assert ch.binds == 1
        sim.faults.down = True            # new connections refused from now on
        await sim.drop_connections()
        await until(lambda: sim.refused >= 2, what="two reconnects refused while the SMSC is down")
        assert not ch.bound and ch.binds == 1
        sim.faults.down = False
        await until(lambda: ch.bound, what="a bind once the SMSC is back")
        assert ch.binds == 2


async def test_send_without_a_server_retries_connection():
    ch = SmppChannel(SmppSettings(host="127.0.0.1", port=1, connect_timeout_s=0.2))
    await ch.open()
    try:
        results = await ch.send(notice(), numbers(2))
    finally:
        await ch.close()
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.RETRY, Reason.CONNECTION)}


# --- pure functions -----------------------------------------------------------------------------

@pytest.mark.parametrize("status, outcome, reason", [
    (0x00, Outcome.ACCEPTED, Reason.OK),
    (0x58, Outcome.RETRY, Reason.THROTTLED),
    (0x14, Outcome.RETRY, Reason.QUEUE_FULL),
    (0x0B, Outcome.GONE, Reason.INVALID_ENDPOINT),
    (0x08, Outcome.RETRY, Reason.SERVER_ERROR),
    (0x45, Outcome.PERMANENT, Reason.UNKNOWN),
    (0x0A, Outcome.PERMANENT, Reason.UNKNOWN),
])
def test_classify_smpp_status(status, outcome, reason):
    res = classify_smpp_status(status, "abc")
    assert (res.outcome, res.reason) == (outcome, reason)
    if outcome is Outcome.ACCEPTED:
        assert res.provider_id == "abc"
    if outcome is Outcome.PERMANENT:
        assert f"0x{status:08X}" in res.detail


def test_worst_of_parts():
    ok1, ok2 = Result(Outcome.ACCEPTED, provider_id="p1"), Result(Outcome.ACCEPTED, provider_id="p2")
    retry = Result(Outcome.RETRY, Reason.THROTTLED)
    gone = Result(Outcome.GONE, Reason.INVALID_ENDPOINT)
    assert worst([ok1, ok2]).provider_id == "p1"
    assert worst([ok1, retry]) is retry
    assert worst([retry, gone, ok2]) is gone


def deliver_sm(text: str, tlvs: dict[int, bytes] | None = None, esm_class: int = EsmClass.DELIVERY_RECEIPT) -> Pdu:
    return Pdu(Cmd.DELIVER_SM, 5, params={"esm_class": esm_class, "short_message": text.encode()}, tlvs=tlvs or {})


RECEIPT = "id:{id} sub:001 dlvrd:{d} submit date:2406011200 done date:2406011201 stat:{stat} err:{err} text:暴雨"


@pytest.mark.parametrize("text, tlvs, expected", [
    (RECEIPT.format(id="0A1B", d="001", stat="DELIVRD", err="000"), {}, ("0A1B", ReceiptStatus.DELIVERED, "")),
    (RECEIPT.format(id="0A1B", d="000", stat="UNDELIV", err="034"), {}, ("0A1B", ReceiptStatus.FAILED, "034")),
    (RECEIPT.format(id="0A1B", d="000", stat="EXPIRED", err="000"), {}, ("0A1B", ReceiptStatus.FAILED, "EXPIRED")),
    (RECEIPT.format(id="0A1B", d="000", stat="REJECTD", err="012"), {}, ("0A1B", ReceiptStatus.FAILED, "012")),
    (RECEIPT.format(id="0A1B", d="000", stat="DELETED", err="000"), {}, ("0A1B", ReceiptStatus.FAILED, "DELETED")),
    # TLVs take precedence over the text
    (RECEIPT.format(id="WRONG", d="001", stat="DELIVRD", err="000"),
     {Tag.RECEIPTED_MESSAGE_ID: c_string("RIGHT"), Tag.MESSAGE_STATE: bytes((5,))},
     ("RIGHT", ReceiptStatus.FAILED, "UNDELIV")),
    # TLVs alone (no text)
    ("", {Tag.RECEIPTED_MESSAGE_ID: c_string("X9"), Tag.MESSAGE_STATE: bytes((2,))},
     ("X9", ReceiptStatus.DELIVERED, "")),
    # network_error_code fills a missing err
    ("", {Tag.RECEIPTED_MESSAGE_ID: c_string("X9"), Tag.MESSAGE_STATE: bytes((5,)),
          Tag.NETWORK_ERROR_CODE: bytes((3, 0, 27))}, ("X9", ReceiptStatus.FAILED, "27")),
])
def test_receipt_from_deliver_sm(text, tlvs, expected):
    r = receipt_from_deliver_sm(decode(deliver_sm(text, tlvs).encode()))
    assert (r.provider_id, r.status, r.error_code) == expected


def test_receipt_dates_and_non_receipts():
    r = receipt_from_deliver_sm(deliver_sm(RECEIPT.format(id="1", d="001", stat="DELIVRD", err="000")),
                                utc_offset_min=480)
    assert r.done_at == time.mktime(time.strptime("2406011201", "%y%m%d%H%M")) - time.timezone - 480 * 60
    assert receipt_from_deliver_sm(deliver_sm("hello from a handset", esm_class=0)) is None
    assert receipt_from_deliver_sm(deliver_sm(RECEIPT.format(id="1", d="000", stat="ENROUTE", err="000"))) is None


def test_receipt_text_fields():
    f = parse_receipt_text("id:abc sub:001 dlvrd:001 submit date:2406011200 done date:2406011201 stat:DELIVRD "
                           "err:000 text:stat:odd id:text")
    assert f["id"] == "abc" and f["stat"] == "DELIVRD" and f["done date"] == "2406011201"
    assert f["text"] == "stat:odd id:text"


def test_pdu_roundtrip_and_errors():
    pdu = Pdu(Cmd.SUBMIT_SM, 77, params={"source_addr": "12379", "destination_addr": "8613900000001",
                                         "dest_addr_ton": 1, "data_coding": 8, "short_message": "中".encode("utf-16-be")},
              tlvs={Tag.USER_MESSAGE_REFERENCE: b"\x00\x2a"})
    back = decode(pdu.encode())
    assert back.sequence == 77 and back["destination_addr"] == "8613900000001" and back["data_coding"] == 8
    assert back["short_message"].decode("utf-16-be") == "中" and back.tlvs == pdu.tlvs
    resp = decode(bytes.fromhex("00000010800000040000005800000003"))   # error resp without a body
    assert resp.status == Status.ESME_RTHROTTLED and resp["message_id"] == ""
    with pytest.raises(PduError):
        decode(bytes.fromhex("00000011800000040000000000000003"))
    with pytest.raises(PduError):
        Pdu(Cmd.SUBMIT_SM, params={"short_message": b"x" * 255}).encode()


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("WARNCAST_SMPP_HOST", "smsc.example")
    monkeypatch.setenv("WARNCAST_SMPP_PORT", "2776")
    monkeypatch.setenv("WARNCAST_SMPP_PASSWORD", "s3cret")
    monkeypatch.setenv("WARNCAST_SMPP_WINDOW", "25")
    monkeypatch.setenv("WARNCAST_SMPP_SOURCE_ADDR", "106912379")
    s = SmppSettings.from_env()
    assert (s.host, s.port, s.window, s.source_addr) == ("smsc.example", 2776, 25, "106912379")
    assert "s3cret" not in repr(s)
    monkeypatch.setenv("WARNCAST_SMPP_PASSWORD", "far-too-long")
    with pytest.raises(ValueError, match="password"):
        SmppSettings.from_env()
