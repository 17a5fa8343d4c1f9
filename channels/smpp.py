"""SMPP 3.4 transceiver adapter: windowed submit_sm over one bound TCP session, deliver_sm receipts.

One ``SmppChannel`` keeps one ``bind_transceiver`` session to the SMSC, answers
its ``enquire_link`` and sends its own on a timer, and reconnects with
exponential backoff when the connection drops; submits outstanding on a dropped
connection end as RETRY CONNECTION. At most ``window`` submit_sm wait for their
response at once; responses are matched by sequence number.

Text encoding: GSM 03.38 text goes with data_coding 0x00 *unpacked* (one septet
per octet, extension characters as ESC + code), which is what SMSCs take for
data_coding 0 on SMPP; anything else goes as UCS-2 (UTF-16-BE, data_coding
0x08). A text longer than one SMS is split (``sms_text.split_parts``) into parts
that each carry a 6-octet concatenation UDH (05 00 03 ref total seq) with
esm_class 0x40; each part is its own submit_sm. The first part goes alone (if
the SMSC refuses it, the rest are not sent), the others then together; the
recipient's result is the worst of its parts and its provider id the first
part's message_id. Every
submit_sm asks for a delivery receipt (registered_delivery 1) and carries the
alert id in ``user_message_reference`` (a 16-bit field: ids wrap at 65,536).

Receipts of later parts are folded onto the first part's id: a failed later part
reports the message failed, a delivered one is dropped (the first part's receipt
speaks for the message). That map lives in this process and holds the most
recent ``PART_MAP_SIZE`` parts.
"""
from __future__ import annotations

import asyncio
import calendar
import inspect
import logging
import random
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Mapping

from channels import netguard
from channels import config
from channels.base import Channel, Notice, Outcome, Reason, Receipt, ReceiptStatus, Recipient, Result
from channels.smpp_pdu import (
    INTERFACE_VERSION, Cmd, DataCoding, EsmClass, MessageState, Pdu, PduError, Status, Tag,
    STAT_TO_STATE, parse_receipt_text, read_pdu, u16, udh_concat,
)
from channels.sms_text import gsm7_encode, is_gsm7, split_parts

log = logging.getLogger("warncast.channels.smpp")

DEV_SYSTEM_ID = "warncast"
#: SMPP 3.4 passwords are at most 8 characters.
DEV_PASSWORD = "wc-dev1"
SEGMENT_OCTETS = 140
PART_MAP_SIZE = 200_000

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_AUTH_STATUSES = {Status.ESME_RINVPASWD, Status.ESME_RINVSYSID, Status.ESME_RBINDFAIL}
_FINAL_FAILED_STATES = {MessageState.EXPIRED, MessageState.DELETED, MessageState.UNDELIVERABLE,
                        MessageState.REJECTED}


@dataclass(frozen=True)
class SmppSettings:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = DEV_SYSTEM_ID
    password: str = field(default=DEV_PASSWORD, repr=False)
    system_type: str = ""
    #: submit_sm awaiting their response at most.
    window: int = 10
    #: Our short code (digits) or alphanumeric sender.
    source_addr: str = "12379"
    #: Seconds between our enquire_link probes.
    enquire_link_s: float = 30.0
    #: Longest text accepted, in SMS parts.
    max_parts: int = 4
    #: How long a submit_sm / enquire_link may wait for its response (s).
    response_timeout_s: float = 10.0
    #: How long connect + bind, or a send waiting for a bound session, may take (s).
    connect_timeout_s: float = 5.0
    #: Ceiling of the exponential reconnect backoff (s).
    reconnect_max_s: float = 30.0
    #: Offset from UTC of the SMSC's receipt dates (minutes; the receipt text carries no zone).
    receipt_utc_offset_min: int = 0

    def __post_init__(self) -> None:
        if self.window < 1 or self.max_parts < 1:
            raise ValueError("WARNCAST_SMPP_WINDOW and WARNCAST_SMPP_MAX_PARTS must be at least 1")
        if len(self.system_id) > 15 or len(self.password) > 8 or len(self.system_type) > 12:
            raise ValueError("SMPP 3.4 limits: system_id 15, password 8, system_type 12 characters")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SmppSettings":
        return config.from_env(cls, "SMPP", env)


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: command_status 0x{status:08X}")
        self.status = status


def classify_smpp_status(command_status: int, message_id: str | None = None) -> Result:
    """submit_sm_resp command_status -> Result (the only place SMPP statuses are interpreted)."""
    if command_status == Status.ESME_ROK:
        return Result(Outcome.ACCEPTED, Reason.OK, provider_id=message_id or None)
    if command_status == Status.ESME_RTHROTTLED:
        return Result(Outcome.RETRY, Reason.THROTTLED, detail="ESME_RTHROTTLED")
    if command_status == Status.ESME_RMSGQFUL:
        return Result(Outcome.RETRY, Reason.QUEUE_FULL, detail="ESME_RMSGQFUL")
    if command_status == Status.ESME_RINVDSTADR:
        return Result(Outcome.GONE, Reason.INVALID_ENDPOINT, detail="ESME_RINVDSTADR")
    if command_status == Status.ESME_RSYSERR:
        return Result(Outcome.RETRY, Reason.SERVER_ERROR, detail="ESME_RSYSERR")
    return Result(Outcome.PERMANENT, Reason.UNKNOWN, detail=f"command_status 0x{command_status:08X}")


#: Outcomes from best to worst: a message is as bad as its worst part.
_SEVERITY = {Outcome.ACCEPTED: 0, Outcome.RETRY: 1, Outcome.PERMANENT: 2, Outcome.GONE: 3}


def worst(results: Sequence[Result]) -> Result:
    """The result of a multi-part message: its worst part's, with the first part's message id."""
    bad = max(results, key=lambda r: _SEVERITY[r.outcome])
    if bad.outcome is not Outcome.ACCEPTED:
        return bad
    return Result(Outcome.ACCEPTED, Reason.OK, provider_id=results[0].provider_id)


def _parse_smpp_date(value: str, utc_offset_min: int) -> float | None:
    """YYMMDDhhmm[ss] in the SMSC's zone -> unix time."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        t = time.strptime(value if len(value) == 12 else value + "00", "%y%m%d%H%M%S")
    except ValueError:
        return None
    return float(calendar.timegm(t) - utc_offset_min * 60)


def receipt_from_deliver_sm(pdu: Pdu, utc_offset_min: int = 0) -> Receipt | None:
    """The Receipt a deliver_sm carries (None for an MO message or a non-final state).

    TLVs receipted_message_id and message_state win over the ``id:`` and ``stat:`` of the text.
    """
    if (pdu["esm_class"] & EsmClass.MESSAGE_TYPE_MASK) != EsmClass.DELIVERY_RECEIPT:
        return None
    fields_ = parse_receipt_text(bytes(pdu["short_message"]).decode("latin-1"))
    message_id = fields_.get("id", "")
    if Tag.RECEIPTED_MESSAGE_ID in pdu.tlvs:
        message_id = pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID].rstrip(b"\x00").decode("latin-1")
    state = STAT_TO_STATE.get(fields_.get("stat", "").upper())
    if Tag.MESSAGE_STATE in pdu.tlvs and pdu.tlvs[Tag.MESSAGE_STATE]:
        state = pdu.tlvs[Tag.MESSAGE_STATE][0]
    if not message_id or state is None:
        return None
    error = fields_.get("err", "")
    if not error.strip("0"):
        error = ""
    net = pdu.tlvs.get(Tag.NETWORK_ERROR_CODE)
    if not error and net and len(net) == 3 and int.from_bytes(net[1:], "big"):
        error = str(int.from_bytes(net[1:], "big"))
    done_at = _parse_smpp_date(fields_.get("done date", ""), utc_offset_min)
    if state == MessageState.DELIVERED:
        return Receipt(SmppChannel.name, message_id, ReceiptStatus.DELIVERED, "", done_at)
    if state in _FINAL_FAILED_STATES:
        stat = {3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 8: "REJECTD"}[state]
        return Receipt(SmppChannel.name, message_id, ReceiptStatus.FAILED, error or stat, done_at)
    return None


def encode_parts(text: str) -> tuple[int, list[bytes]]:
    """(data_coding, user data of each part) for a text."""
    parts = split_parts(text)
    if is_gsm7(text):
        return DataCoding.DEFAULT, [gsm7_encode(p) for p in parts]
    return DataCoding.UCS2, [p.encode("utf-16-be") for p in parts]


def validity_period(expires_at: float) -> str:
    """SMPP absolute time in UTC (YYMMDDhhmmss t nn p, with nn=00 and p='+')."""
    return time.strftime("%y%m%d%H%M%S", time.gmtime(expires_at)) + "000+"


def _address_type(addr: str) -> tuple[int, int]:
    """(TON, NPI) for our source address: alphanumeric 5/0, short code 3/0, full number 1/1."""
    if not addr.isdigit():
        return 5, 0
    if len(addr) <= 8:
        return 3, 0
    return 1, 1


class SmppChannel(Channel):
    """SMPP 3.4 transceiver: one bound session, windowed submits, deliver_sm receipts."""

    name = "smpp"
    #: Recipients one send may carry; each gets its own submit_sm(s), pipelined within the window.
    max_batch = 100
    #: User data of the longest accepted text: max_parts parts of 140 octets.
    max_body_bytes = 4 * SEGMENT_OCTETS
    #: Typical SMSC account throughput (submit_sm per second).
    max_rate_per_s = 200
    max_in_flight = 4
    has_receipts = True
    receipt_timeout_s = 60.0

    def __init__(self, settings: SmppSettings | None = None,
                 on_receipt: Callable[[Receipt], Any] | None = None) -> None:
        self.settings = settings or SmppSettings.from_env()
        self.on_receipt = on_receipt
        self.max_body_bytes = self.settings.max_parts * SEGMENT_OCTETS
        #: Successful binds so far (1 after open; more after reconnects).
        self.binds = 0
        #: command_status of the last refused bind (None while binds succeed).
        self.bind_error: int | None = None
        self._window: asyncio.Semaphore | None = None
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        #: Run in the read loop when a response arrives, before any later PDU is read.
        self._on_response: dict[int, Callable[[Pdu], None]] = {}
        self._seq = 0
        self._concat_ref = random.randrange(256)
        self._writer: asyncio.StreamWriter | None = None
        self._bound = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._closing = False
        self._part_ids: OrderedDict[str, str] = OrderedDict()
        self._callbacks: set[asyncio.Task] = set()
        self._parked: list[Receipt] = []
        self._park_timer: asyncio.TimerHandle | None = None
        self._src_ton, self._src_npi = _address_type(self.settings.source_addr)

    # --- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the session task and wait (up to connect_timeout_s) for the first bind."""
        if self._runner is not None:
            return
        self._closing = False
        self._window = asyncio.Semaphore(self.settings.window)
        self._runner = asyncio.create_task(self._run(), name="smpp-session")
        try:
            await asyncio.wait_for(self._bound.wait(), self.settings.connect_timeout_s)
        except asyncio.TimeoutError:
            log.warning("SMPP not bound to %s:%s yet; retrying in the background",
                        self.settings.host, self.settings.port)

    async def close(self) -> None:
        """Unbind, close the connection and stop reconnecting."""
        self._closing = True
        if self._bound.is_set():
            try:
                await self._request(Pdu(Cmd.UNBIND), min(2.0, self.settings.response_timeout_s))
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
        if self._writer is not None:
            self._writer.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        self._bound.clear()

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def _run(self) -> None:
        s = self.settings
        delay = 0.05
        while not self._closing:
            writer = None
            try:
                reader, writer = await asyncio.wait_for(netguard.open_connection(s.host, s.port),
                                                        s.connect_timeout_s)
                await asyncio.wait_for(self._bind(reader, writer), s.connect_timeout_s)
            except BindRefused as exc:
                self.bind_error = exc.status
                log.error("SMPP %s", exc)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, PduError) as exc:
                log.warning("SMPP connect to %s:%s failed: %s", s.host, s.port, type(exc).__name__)
            else:
                delay = 0.05
                self.bind_error = None
                self.binds += 1
                await self._serve(reader, writer)
            if writer is not None:
                writer.close()
            if self._closing:
                break
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, s.reconnect_max_s)

    async def _bind(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = self.settings
        seq = self._next_seq()
        writer.write(Pdu(Cmd.BIND_TRANSCEIVER, seq, params={
            "system_id": s.system_id, "password": s.password, "system_type": s.system_type,
            "interface_version": INTERFACE_VERSION, "addr_ton": 0, "addr_npi": 0, "address_range": "",
        }).encode())
        await writer.drain()
        while True:
            pdu = await read_pdu(reader)
            if pdu.command_id in (Cmd.BIND_TRANSCEIVER_RESP, Cmd.GENERIC_NACK) and pdu.sequence == seq:
                if pdu.status != Status.ESME_ROK or pdu.command_id == Cmd.GENERIC_NACK:
                    raise BindRefused(pdu.status or Status.ESME_RBINDFAIL)
                return
            if pdu.command_id == Cmd.ENQUIRE_LINK:
                writer.write(pdu.response().encode())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read loop of a bound session; returns when it ends, failing its outstanding requests."""
        self._writer = writer
        self._bound.set()
        keepalive = asyncio.create_task(self._keepalive(writer))
        try:
            while True:
                pdu = await read_pdu(reader)
                cid = pdu.command_id
                if pdu.is_response:
                    hook = self._on_response.pop(pdu.sequence, None)
                    if hook is not None:
                        hook(pdu)
                        self._release_parked()
                    fut = self._pending.pop(pdu.sequence, None)
                    if fut is not None and not fut.done():
                        fut.set_result(pdu)
                elif cid == Cmd.DELIVER_SM:
                    writer.write(pdu.response(message_id="").encode())
                    self._handle_deliver_sm(pdu)
                elif cid == Cmd.ENQUIRE_LINK:
                    writer.write(pdu.response().encode())
                elif cid == Cmd.UNBIND:
                    writer.write(pdu.response().encode())
                    await writer.drain()
                    return
                else:
                    writer.write(Pdu(Cmd.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID).encode())
        except (OSError, asyncio.IncompleteReadError, PduError) as exc:
            if not self._closing:
                log.warning("SMPP connection lost: %s", type(exc).__name__)
        finally:
            keepalive.cancel()
            self._bound.clear()
            self._writer = None
            pending, self._pending = self._pending, {}
            self._on_response.clear()
            self._release_parked(force=True)
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("SMPP connection dropped"))
            writer.close()

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self.settings.enquire_link_s)
            try:
                await self._request(Pdu(Cmd.ENQUIRE_LINK), self.settings.response_timeout_s)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                log.warning("SMPP enquire_link unanswered; reconnecting")
                writer.close()
                return

    def _next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < 0x7FFFFFFF else 1
        return self._seq

    async def _request(self, pdu: Pdu, timeout_s: float,
                       on_response: Callable[[Pdu], None] | None = None) -> Pdu:
        writer = self._writer
        if writer is None:
            raise ConnectionError("SMPP not bound")
        pdu.sequence = self._next_seq()
        fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[pdu.sequence] = fut
        if on_response is not None:
            self._on_response[pdu.sequence] = on_response
        try:
            writer.write(pdu.encode())
            await writer.drain()
            return await asyncio.wait_for(fut, timeout_s)
        finally:
            self._pending.pop(pdu.sequence, None)
            if self._on_response.pop(pdu.sequence, None) is not None:
                self._release_parked()  # this part timed out: parked receipts need not wait for it

    # --- receipts ------------------------------------------------------------------------------

    def _handle_deliver_sm(self, pdu: Pdu) -> None:
        try:
            receipt = receipt_from_deliver_sm(pdu, self.settings.receipt_utc_offset_min)
        except (ValueError, KeyError, IndexError) as exc:
            log.warning("SMPP unreadable delivery receipt (%s)", type(exc).__name__)   # its text may hold a number
            return
        if receipt is None or self.on_receipt is None:
            return
        if receipt.provider_id not in self._part_ids and self._on_response:
            # An SMSC may send a part's receipt before its submit_sm_resp: hold unknown ids until
            # the later parts in flight have their answers (or the response timeout passes).
            self._parked.append(receipt)
            if self._park_timer is None:
                self._park_timer = asyncio.get_running_loop().call_later(
                    self.settings.response_timeout_s, self._release_parked, True)
            return
        self._emit(receipt)

    def _release_parked(self, force: bool = False) -> None:
        if not self._parked:
            return
        if force or not self._on_response:
            parked, self._parked = self._parked, []
        else:
            parked = [r for r in self._parked if r.provider_id in self._part_ids]
            self._parked = [r for r in self._parked if r.provider_id not in self._part_ids]
        if not self._parked and self._park_timer is not None:
            self._park_timer.cancel()
            self._park_timer = None
        for receipt in parked:
            self._emit(receipt)

    def _emit(self, receipt: Receipt) -> None:
        """Fold a later part's receipt onto its message, then hand it to on_receipt."""
        first = self._part_ids.get(receipt.provider_id)
        if first is not None:
            if receipt.status is ReceiptStatus.DELIVERED:
                return
            receipt.provider_id = first
        assert self.on_receipt is not None
        try:
            outcome = self.on_receipt(receipt)
            if inspect.isawaitable(outcome):
                task = asyncio.ensure_future(outcome)
                self._callbacks.add(task)
                task.add_done_callback(self._callbacks.discard)
        except Exception:  # a failing consumer must not take the session down
            log.exception("SMPP on_receipt callback failed")

    # --- sending -------------------------------------------------------------------------------

    async def send(self, notice: Notice, recipients: Sequence[Recipient]) -> list[Result]:
        if not recipients:
            return []
        coding, payloads = encode_parts(notice.body)
        if len(payloads) > self.settings.max_parts:
            return [Result(Outcome.PERMANENT, Reason.PAYLOAD_TOO_LARGE,
                           detail=f"{len(payloads)} parts > {self.settings.max_parts}") for _ in recipients]
        if notice.expires_at and notice.expires_at <= time.time():
            return [Result(Outcome.PERMANENT, Reason.EXPIRED) for _ in recipients]
        if self._runner is None:
            await self.open()
        common = {
            "service_type": "", "source_addr_ton": self._src_ton, "source_addr_npi": self._src_npi,
            "source_addr": self.settings.source_addr, "dest_addr_ton": 1, "dest_addr_npi": 1,
            "protocol_id": 0, "priority_flag": 1 if notice.severity in ("Extreme", "Severe") else 0,
            "schedule_delivery_time": "",
            "validity_period": validity_period(notice.expires_at) if notice.expires_at else "",
            "registered_delivery": 1, "replace_if_present_flag": 0, "data_coding": coding,
            "sm_default_msg_id": 0,
        }
        tlvs = {Tag.USER_MESSAGE_REFERENCE: u16(int(notice.alert_id))}
        return list(await asyncio.gather(*(self._send_one(r, payloads, common, tlvs) for r in recipients)))

    async def _send_one(self, recipient: Recipient, payloads: list[bytes], common: dict[str, Any],
                        tlvs: dict[int, bytes]) -> Result:
        if not _E164.match(recipient.endpoint or ""):
            return Result(Outcome.GONE, Reason.INVALID_ENDPOINT, detail="not an E.164 number")
        dest = recipient.endpoint[1:]
        if len(payloads) == 1:
            pdus = [Pdu(Cmd.SUBMIT_SM, params={**common, "destination_addr": dest, "esm_class": 0,
                                               "short_message": payloads[0]}, tlvs=tlvs)]
        else:
            self._concat_ref = (self._concat_ref + 1) & 0xFF
            total = len(payloads)
            pdus = [Pdu(Cmd.SUBMIT_SM, params={**common, "destination_addr": dest, "esm_class": EsmClass.UDHI,
                                               "short_message": udh_concat(self._concat_ref, total, i + 1) + p},
                        tlvs=tlvs)
                    for i, p in enumerate(payloads)]
        first = await self._submit(pdus[0])
        if len(pdus) == 1 or not first.ok:
            return first
        # The first part's id is known before later parts go out, so their ids can be mapped onto it
        # as their responses are read, ahead of any receipt for them on the same connection.
        hook = self._part_mapper(first.provider_id or "")
        rest = await asyncio.gather(*(self._submit(p, hook) for p in pdus[1:]))
        return worst([first, *rest])

    def _part_mapper(self, first_id: str) -> Callable[[Pdu], None]:
        def record(resp: Pdu) -> None:
            part_id = resp["message_id"] if resp.command_id == Cmd.SUBMIT_SM_RESP else ""
            if resp.status == Status.ESME_ROK and part_id and first_id:
                self._part_ids[part_id] = first_id
                if len(self._part_ids) > PART_MAP_SIZE:
                    self._part_ids.popitem(last=False)
        return record

    async def _submit(self, pdu: Pdu, on_response: Callable[[Pdu], None] | None = None) -> Result:
        s = self.settings
        assert self._window is not None
        async with self._window:
            if not self._bound.is_set():
                try:
                    await asyncio.wait_for(self._bound.wait(), s.connect_timeout_s)
                except asyncio.TimeoutError:
                    if self.bind_error in _AUTH_STATUSES:
                        return Result(Outcome.PERMANENT, Reason.AUTH,
                                      detail=f"bind refused 0x{self.bind_error:08X}")
                    return Result(Outcome.RETRY, Reason.CONNECTION, detail="SMPP not bound")
            try:
                resp = await self._request(pdu, s.response_timeout_s, on_response)
            except asyncio.TimeoutError:
                return Result(Outcome.RETRY, Reason.TIMEOUT, detail="no submit_sm_resp")
            except (ConnectionError, OSError):
                return Result(Outcome.RETRY, Reason.CONNECTION, detail="connection dropped")
        if resp.command_id == Cmd.GENERIC_NACK and resp.status == Status.ESME_ROK:
            return Result(Outcome.PERMANENT, Reason.BAD_REQUEST, detail="generic_nack")
        return classify_smpp_status(resp.status, resp["message_id"] if resp.command_id == Cmd.SUBMIT_SM_RESP else None)
