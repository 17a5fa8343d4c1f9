"""SMPP 3.4 SMSC simulator: binds, submit_sm, enquire_link, UDH reassembly, deliver_sm receipts.

Records ONE ledger entry per complete message: concatenated parts (UDH 05 00 03 /
08 04) are reassembled first; the entry's message id is the first part's, its
alert id the ``user_message_reference`` TLV the sender set, its recipient the
destination in E.164 (``+`` added for TON 1). ``texts`` maps the message id to
the reassembled text.

Fault knobs: ``Faults.error_rates`` keyed "ESME_RTHROTTLED", "ESME_RMSGQFUL",
"ESME_RSYSERR" (any ``Status`` name works), ``unregistered_fraction`` (answered
ESME_RINVDSTADR, stable per number), ``latency_ms`` (per submit_sm, answered
concurrently so a sender's window is visible in ``max_outstanding``),
``drop_rate`` (the connection is closed instead of answering), ``down`` (every
connection is closed at once), ``accept_then_stall_rate`` and the receipt knobs
(one receipt per submitted part, in text form and with TLVs).
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from channels.smpp import DEV_PASSWORD, DEV_SYSTEM_ID
from channels.smpp_pdu import (
    Cmd, DataCoding, EsmClass, MessageState, Pdu, PduError, Status, Tag,
    c_string, format_receipt_text, read_pdu, split_udh,
)
from channels.sms_text import gsm7_decode
from loadtest.simulators.base import Faults, Ledger

SMSC_SYSTEM_ID = "warncast-sim"
_BINDS = {Cmd.BIND_TRANSCEIVER: (True, True), Cmd.BIND_TRANSMITTER: (True, False),
          Cmd.BIND_RECEIVER: (False, True)}


@dataclass(eq=False)
class _Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    system_id: str = ""
    bound: bool = False
    can_send: bool = False
    can_receive: bool = False
    seq: int = 0
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    #: Receipts sent on this session and not yet answered with deliver_sm_resp, by sequence number.
    unacked: dict[int, "_Receipt"] = field(default_factory=dict)

    def send(self, pdu: Pdu) -> None:
        if not self.writer.is_closing():
            self.writer.write(pdu.encode())

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class _Receipt:
    due: float
    message_id: str
    source: str
    destination: str
    state: int
    err: str
    submit_date: str
    session: _Session | None


class SmppSimulator:
    def __init__(self, faults: Faults | None = None, system_id: str = DEV_SYSTEM_ID,
                 password: str = DEV_PASSWORD) -> None:
        self.faults = faults or Faults()
        self.system_id = system_id
        self.password = password
        self.ledger = Ledger()
        #: Reassembled text of each complete message, by its (first part's) message id.
        self.texts: dict[str, str] = {}
        self.host = ""
        self.port = 0
        self.binds = 0
        self.bind_failures = 0
        #: Connections closed at once because the SMSC is ``down``.
        self.refused = 0
        self.submits = 0
        self.outstanding = 0
        #: Most submit_sm received and not yet answered at one time.
        self.max_outstanding = 0
        self.enquire_links_received = 0
        #: Set False to leave enquire_link unanswered (a hung SMSC whose TCP connection stays up).
        self.answer_enquire_link = True
        #: Set True to send each receipt at once, ahead of its submit_sm_resp (a race real SMSCs show).
        self.receipts_before_responses = False
        self.receipts_sent = 0
        self.receipts_acked = 0
        self._ids = itertools.count(1)
        self._server: asyncio.AbstractServer | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task] = set()
        self._parts: dict[tuple, dict[int, tuple[str, str]]] = {}
        self._receipts: list[_Receipt] = []
        self._wake = asyncio.Event()
        self._pump: asyncio.Task | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        self._pump = asyncio.create_task(self._pump_receipts())
        return self.host, self.port

    async def stop(self) -> None:
        if self._pump:
            self._pump.cancel()
        for t in list(self._tasks):
            t.cancel()
        await self.drop_connections()
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*self._tasks, *( [self._pump] if self._pump else []), return_exceptions=True)

    @property
    def sessions(self) -> int:
        """Bound sessions now."""
        return sum(1 for s in self._sessions if s.bound)

    async def drop_connections(self) -> None:
        """Close every client connection at once, as a crashing SMSC or a broken network would."""
        for sess in list(self._sessions):
            sess.writer.close()
        await asyncio.sleep(0)

    async def enquire_link(self, timeout_s: float = 2.0) -> int:
        """Probe every bound session; returns how many answered with enquire_link_resp."""
        futs = []
        for sess in [s for s in self._sessions if s.bound]:
            seq = sess.next_seq()
            fut = asyncio.get_running_loop().create_future()
            sess.pending[seq] = fut
            sess.send(Pdu(Cmd.ENQUIRE_LINK, seq))
            futs.append(fut)
        done = await asyncio.gather(*(asyncio.wait_for(f, timeout_s) for f in futs), return_exceptions=True)
        return sum(1 for d in done if isinstance(d, Pdu) and d.command_id == Cmd.ENQUIRE_LINK_RESP)

    async def drain_receipts(self, timeout_s: float = 10.0) -> None:
        """Wait until every scheduled receipt was sent and acknowledged."""
        deadline = time.monotonic() + timeout_s
        while self._receipts or self.receipts_acked < self.receipts_sent:
            if time.monotonic() > deadline:
                raise asyncio.TimeoutError("receipts still pending")
            await asyncio.sleep(0.01)

    # --- one connection ------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.faults.down:
            self.refused += 1
            writer.close()
            return
        sess = _Session(reader, writer)
        self._sessions.add(sess)
        try:
            while True:
                pdu = await read_pdu(reader)
                cid = pdu.command_id
                if cid in _BINDS:
                    self._bind(sess, pdu)
                elif pdu.is_response:
                    if cid == Cmd.DELIVER_SM_RESP and sess.unacked.pop(pdu.sequence, None) is not None:
                        self.receipts_acked += 1
                    fut = sess.pending.pop(pdu.sequence, None)
                    if fut is not None and not fut.done():
                        fut.set_result(pdu)
                elif cid == Cmd.ENQUIRE_LINK:
                    self.enquire_links_received += 1
                    if self.answer_enquire_link:
                        sess.send(pdu.response())
                elif cid == Cmd.UNBIND:
                    sess.send(pdu.response())
                    await writer.drain()
                    break
                elif not sess.bound:
                    sess.send(Pdu(Cmd.GENERIC_NACK, pdu.sequence, Status.ESME_RINVBNDSTS))
                elif cid == Cmd.SUBMIT_SM and sess.can_send:
                    self._spawn(self._submit(sess, pdu))
                else:
                    sess.send(Pdu(Cmd.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID))
        except (OSError, asyncio.IncompleteReadError, PduError):
            pass
        finally:
            self._sessions.discard(sess)
            sess.bound = False
            if sess.unacked:  # unanswered receipts go again on the next session, as an SMSC retries
                self.receipts_sent -= len(sess.unacked)
                self._receipts.extend(sess.unacked.values())
                sess.unacked.clear()
                self._wake.set()
            for fut in sess.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("closed"))
            writer.close()

    def _bind(self, sess: _Session, pdu: Pdu) -> None:
        if sess.bound:
            sess.send(pdu.response(status=Status.ESME_RALYBND))
            return
        if pdu["system_id"] != self.system_id or pdu["password"] != self.password:
            self.bind_failures += 1
            status = Status.ESME_RINVSYSID if pdu["system_id"] != self.system_id else Status.ESME_RINVPASWD
            sess.send(pdu.response(status=status))
            return
        sess.bound = True
        sess.system_id = pdu["system_id"]
        sess.can_send, sess.can_receive = _BINDS[pdu.command_id]
        self.binds += 1
        sess.send(pdu.response(system_id=SMSC_SYSTEM_ID))
        self._wake.set()  # receipts held for want of a receiver may go now

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, sess: _Session, pdu: Pdu) -> None:
        f = self.faults
        self.submits += 1
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        answered = False

        def answer(status: int, message_id: str = "") -> None:
            nonlocal answered
            answered = True
            self.outstanding -= 1
            sess.send(pdu.response(status=status, message_id=message_id))

        try:
            delay = f.latency()
            if delay:
                await asyncio.sleep(delay)
            if f.chance(f.drop_rate):
                sess.writer.close()
                return
            error = f.pick_error()
            if error is not None:
                answer(Status.by_name(error))
                return
            dest = pdu["destination_addr"]
            if not dest.isdigit() or f.unregistered(_recipient(pdu)):
                answer(Status.ESME_RINVDSTADR)
                return
            message_id = f"{next(self._ids):08X}"
            self._accept_part(pdu, message_id)
            if pdu["registered_delivery"] & 0x03:
                if self.receipts_before_responses:
                    self._send_receipt(sess, self._make_receipt(sess, pdu, message_id, 0.0))
                else:
                    self._schedule_receipt(sess, pdu, message_id)
            if f.chance(f.accept_then_stall_rate):
                await asyncio.sleep(f.stall_s)
            answer(Status.ESME_ROK, message_id)
        finally:
            if not answered:
                self.outstanding -= 1

    def _accept_part(self, pdu: Pdu, message_id: str) -> None:
        dest = pdu["destination_addr"]
        recipient = _recipient(pdu)
        ref = pdu.tlvs.get(Tag.USER_MESSAGE_REFERENCE)
        alert_id = str(int.from_bytes(ref, "big")) if ref else ""
        data = pdu["short_message"] or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")
        concat = None
        if pdu["esm_class"] & EsmClass.UDHI:
            concat, data = split_udh(data)
        text = _decode_text(data, pdu["data_coding"])
        if concat is None or concat[1] <= 1:
            self.ledger.record(message_id, recipient, alert_id)
            self.texts[message_id] = text
            return
        ref_num, total, seq = concat
        key = (pdu["source_addr"], dest, ref_num, total)
        parts = self._parts.setdefault(key, {})
        parts[seq] = (message_id, text)
        if len(parts) == total and all(i in parts for i in range(1, total + 1)):
            del self._parts[key]
            first_id = parts[1][0]
            self.ledger.record(first_id, recipient, alert_id)
            self.texts[first_id] = "".join(parts[i][1] for i in range(1, total + 1))

    # --- receipts ------------------------------------------------------------------------------

    def _make_receipt(self, sess: _Session, pdu: Pdu, message_id: str, due: float) -> _Receipt:
        failed = self.faults.chance(self.faults.receipt_failed_rate)
        state, err = (MessageState.UNDELIVERABLE, "001") if failed else (MessageState.DELIVERED, "000")
        submit_date = time.strftime("%y%m%d%H%M", time.gmtime())
        return _Receipt(due, message_id, pdu["destination_addr"], pdu["source_addr"], state, err, submit_date, sess)

    def _schedule_receipt(self, sess: _Session, pdu: Pdu, message_id: str) -> None:
        f = self.faults
        lo, hi = f.receipt_delay_s
        due = time.monotonic() + (lo if hi <= lo else f.rng.uniform(lo, hi))
        receipt = self._make_receipt(sess, pdu, message_id, due)
        copies = 2 if f.chance(f.receipt_duplicate_rate) else 1
        self._receipts.extend(receipt for _ in range(copies))
        self._wake.set()

    def _receiver_for(self, r: _Receipt) -> _Session | None:
        if r.session is not None and r.session.bound and r.session.can_receive and r.session in self._sessions:
            return r.session
        for sess in self._sessions:
            if sess.bound and sess.can_receive and sess.system_id == self.system_id:
                return sess
        return None

    async def _pump_receipts(self) -> None:
        while True:
            if not self._receipts:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic()
            due = [r for r in self._receipts if r.due <= now]
            if not due:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), min(0.05, min(r.due for r in self._receipts) - now))
                except asyncio.TimeoutError:
                    pass
                continue
            if self.faults.receipt_out_of_order and len(due) > 1:
                before = list(due)
                self.faults.rng.shuffle(due)
                if due == before:
                    due.reverse()
            held = []
            for r in due:
                sess = self._receiver_for(r)
                if sess is None:
                    held.append(r)
                    continue
                self._receipts.remove(r)
                self._send_receipt(sess, r)
            if held and len(held) == len(due):
                # nobody to deliver to: wait for a bind (or another due receipt)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.1)
                except asyncio.TimeoutError:
                    pass
            await asyncio.sleep(0)

    def _send_receipt(self, sess: _Session, r: _Receipt) -> None:
        stat = {MessageState.DELIVERED: "DELIVRD", MessageState.UNDELIVERABLE: "UNDELIV"}[r.state]
        done = time.strftime("%y%m%d%H%M", time.gmtime())
        text = format_receipt_text(r.message_id, stat, r.err, r.submit_date, done)
        pdu = Pdu(Cmd.DELIVER_SM, sess.next_seq(), params={
            "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": r.source,
            "dest_addr_ton": 0, "dest_addr_npi": 0, "destination_addr": r.destination,
            "esm_class": EsmClass.DELIVERY_RECEIPT, "data_coding": DataCoding.DEFAULT,
            "short_message": text.encode("ascii"),
        }, tlvs={Tag.RECEIPTED_MESSAGE_ID: c_string(r.message_id), Tag.MESSAGE_STATE: bytes((r.state,))})
        sess.unacked[pdu.sequence] = r
        sess.send(pdu)
        self.receipts_sent += 1


def _recipient(pdu: Pdu) -> str:
    """The destination as the sender knew it: E.164 with "+" for an international (TON 1) number."""
    dest = pdu["destination_addr"]
    return "+" + dest if pdu["dest_addr_ton"] == 1 else dest


def _decode_text(data: bytes, data_coding: int) -> str:
    if data_coding == DataCoding.UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding in (DataCoding.DEFAULT, 0x01):
        return gsm7_decode(data)
    return data.decode("latin-1")
