"""Interop with an independent SMPP 3.4 implementation: the ``smpp34`` package (a Rust core).

Both directions: ``SmppChannel`` against smpp34's SMSC (``smpp34.Server``), and
smpp34's ESME (``smpp34.Client``) against our ``SmppSimulator``.
"""
from __future__ import annotations

import asyncio
import socket
import time

import pytest
import smpp34

from channels.base import Notice, ReceiptStatus, Recipient
from channels.smpp import SmppChannel, SmppSettings
from channels.smpp_pdu import udh_concat
from channels.sms_text import gsm7_encode
from loadtest.simulators.base import Faults
from loadtest.simulators.smpp import SmppSimulator

ZH = "【北京市预警信息发布中心】暴雨橙色预警，请减少外出。"


def notice(body: str, alert_id: int = 7) -> Notice:
    return Notice(alert_id=alert_id, identifier="CN-BJ-7", lang="zh", title="暴雨", body=body, severity="Extreme",
                  urgency="Immediate", expires_at=time.time() + 3600, collapse_key="a7")


def free_port() -> int:
    """smpp34.Server does not report the port it bound, so port 0 cannot be used: take a free one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Smpp34Smsc:
    """smpp34's server as the SMSC: accepts every submit_sm and answers each with a receipt."""

    def __init__(self, state: str = "DELIVRD", state_tlv: int = 2) -> None:
        self.port = free_port()
        self.server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="SMPP34")
        self.submits: list[smpp34.SubmitSmEvent] = []
        self.binds: list[str] = []
        self.state, self.state_tlv = state, state_tlv
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "Smpp34Smsc":
        await self.server.start()
        self._task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.server.stop()

    async def _serve(self) -> None:
        sessions: dict[str, smpp34.Esme] = {}
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                sessions[ev.session_id] = ev
                self.binds.append(ev.system_id)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                message_id = f"R{len(self.submits) + 1:05d}"
                self.submits.append(ev)
                ev.accept(message_id=message_id)
                text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2406011200 done date:2406011201 "
                        f"stat:{self.state} err:000 text:").encode()
                await sessions[ev.session_id].deliver_sm(
                    ev.source_addr, text, source_addr=ev.destination_addr, esm_class=0x04,
                    tlvs=[smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"),
                          smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes((self.state_tlv,)))])


async def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("text, data_coding", [(ZH, 0x08), ("Flood warning {zone 3}: leave now", 0x00)])
async def test_channel_binds_submits_and_gets_a_receipt_from_smpp34(text, data_coding):
    receipts = []
    async with Smpp34Smsc() as smsc:
        ch = SmppChannel(SmppSettings(host="127.0.0.1", port=smsc.port, connect_timeout_s=3),
                         on_receipt=receipts.append)
        await ch.open()
        try:
            assert ch.bound
            results = await ch.send(notice(text), [Recipient(1, "+8613900000001"), Recipient(2, "+8613900000002")])
            await wait_for(lambda: len(receipts) == 2)
        finally:
            await ch.close()
    assert smsc.binds == ["warncast"]
    assert [r.ok for r in results] == [True, True]
    assert {r.provider_id for r in results} == {"R00001", "R00002"}
    ev = smsc.submits[0]
    assert ev.data_coding == data_coding and ev.registered_delivery == 1 and ev.source_addr == "12379"
    assert ev.destination_addr in ("8613900000001", "8613900000002") and ev.dest_addr_ton == 1
    payload = ev.short_message
    assert payload == (text.encode("utf-16-be") if data_coding == 0x08 else gsm7_encode(text))
    assert {(t.tag, t.value) for t in ev.tlvs} >= {(smpp34.TLV_USER_MESSAGE_REFERENCE, (7).to_bytes(2, "big"))}
    assert {(r.provider_id, r.status) for r in receipts} == {("R00001", ReceiptStatus.DELIVERED),
                                                             ("R00002", ReceiptStatus.DELIVERED)}


async def test_long_message_parts_as_seen_by_smpp34():
    text = "暴雨红色预警。" * 20          # 140 code units: 3 parts
    receipts = []
    async with Smpp34Smsc(state="UNDELIV", state_tlv=5) as smsc:
        ch = SmppChannel(SmppSettings(host="127.0.0.1", port=smsc.port, connect_timeout_s=3),
                         on_receipt=receipts.append)
        await ch.open()
        try:
            (result,) = await ch.send(notice(text), [Recipient(1, "+8613900000001")])
            await wait_for(lambda: len(receipts) == 3)
        finally:
            await ch.close()
    assert result.ok and result.provider_id == "R00001"
    assert len(smsc.submits) == 3
    refs = set()
    body = b""
    # part 1 goes first; parts 2 and 3 go together and may arrive in either order
    assert smsc.submits[0].short_message[5] == 1
    by_seq = sorted(smsc.submits, key=lambda ev: ev.short_message[5])
    for i, ev in enumerate(by_seq, start=1):
        assert ev.esm_class & 0x40 and ev.data_coding == 0x08
        udh = ev.short_message[:6]
        assert udh[:3] == b"\x05\x00\x03" and udh[4:] == bytes((3, i))
        refs.add(udh[3])
        body += ev.short_message[6:]
    assert len(refs) == 1 and body.decode("utf-16-be") == text
    # every part failed: the later parts' receipts fold onto the first part's id
    assert {(r.provider_id, r.status) for r in receipts} == {("R00001", ReceiptStatus.FAILED)}


async def test_smpp34_client_against_our_simulator():
    sim = SmppSimulator(Faults(seed=1, unregistered_fraction=0.0), system_id="esme34", password="pw34")
    await sim.start("127.0.0.1", 0)
    try:
        bad = smpp34.Client(host=sim.host, port=sim.port, system_id="esme34", password="wrong", bind_type="TRX",
                            connect_timeout_ms=2000)
        with pytest.raises(Exception):
            await bad.connect()
        client = smpp34.Client(host=sim.host, port=sim.port, system_id="esme34", password="pw34", bind_type="TRX",
                               connect_timeout_ms=2000)
        smsc = await client.connect()
        ref = [smpp34.Tlv(smpp34.TLV_USER_MESSAGE_REFERENCE, (9).to_bytes(2, "big"))]
        resp = await smsc.submit_sm("8613900000009", "警报".encode("utf-16-be"), source_addr="12379",
                                    dest_addr_ton=1, dest_addr_npi=1, data_coding=0x08, registered_delivery=1,
                                    tlvs=ref)
        assert resp.is_success and resp.message_id
        parts = [udh_concat(0x33, 2, i + 1) + p for i, p in enumerate((b"Part one, ", b"part two."))]
        part_resps = [await smsc.submit_sm("8613900000010", p, source_addr="12379", dest_addr_ton=1,
                                           esm_class=0x40, registered_delivery=1, tlvs=ref) for p in parts]
        assert all(r.is_success for r in part_resps)
        receipts = []
        while len(receipts) < 3:
            ev = await asyncio.wait_for(smsc.next(), 5)
            assert isinstance(ev, smpp34.DeliverSmEvent)
            receipts.append(ev)
        assert all(ev.esm_class == 0x04 and b"stat:DELIVRD" in ev.short_message for ev in receipts)
        receipted = {next(t.value for t in ev.tlvs if t.tag == smpp34.TLV_RECEIPTED_MESSAGE_ID).rstrip(b"\0").decode()
                     for ev in receipts}
        assert receipted == {resp.message_id, *(r.message_id for r in part_resps)}
        await smsc.unbind()
        await client.stop()
    finally:
        await sim.stop()
    assert sim.ledger.count(9) == 2
    texts = {e.recipient: sim.texts[e.message_id] for e in sim.ledger.entries}
    assert texts == {"+8613900000009": "警报", "+8613900000010": "Part one, part two."}
