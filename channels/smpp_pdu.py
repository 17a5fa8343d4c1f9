"""SMPP 3.4 PDUs: encode and decode the ones a transceiver and an SMSC exchange.

A PDU is a 16-octet header (command_length, command_id, command_status,
sequence_number, all big-endian 32-bit) then the mandatory parameters of its
command in a fixed order (C-octet strings are NUL-terminated; ``short_message``
is preceded by its one-octet ``sm_length``) and optional TLVs (tag u16, length
u16, value). Error responses may carry no body at all; decoding tolerates that.

Also here: the UDH concatenation header and the delivery-receipt text format
(SMPP 3.4 Appendix B), which both the adapter and the simulator read and write.

Exceptions::

    PduError      a malformed PDU or a length out of bounds
"""
from __future__ import annotations

import asyncio
import re
import struct
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">IIII")
#: Largest PDU either side accepts (a submit_sm with a 254-octet short_message plus TLVs is far below).
MAX_PDU_OCTETS = 64 * 1024
INTERFACE_VERSION = 0x34


class PduError(Exception):
    """A malformed PDU."""


class Cmd:
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015

    RESPONSE_BIT = 0x80000000


class Status:
    """command_status values used here (SMPP 3.4 section 5.1.3)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RMSGQFUL = 0x14
    ESME_RSUBMITFAIL = 0x45
    ESME_RTHROTTLED = 0x58
    ESME_RUNKNOWNERR = 0xFF

    @classmethod
    def by_name(cls, name: str) -> int:
        value = getattr(cls, name, None)
        if not isinstance(value, int):
            raise KeyError(name)
        return value


class Tag:
    """Optional parameter tags used here."""

    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427
    RECEIPTED_MESSAGE_ID = 0x001E


class DataCoding:
    DEFAULT = 0x00   #: SMSC default alphabet; warncast sends GSM 03.38 unpacked (one septet per octet)
    UCS2 = 0x08      #: UTF-16-BE


class EsmClass:
    DEFAULT = 0x00
    DELIVERY_RECEIPT = 0x04      #: message type bits (2-5) of a deliver_sm carrying a receipt
    MESSAGE_TYPE_MASK = 0x3C
    UDHI = 0x40                  #: short_message starts with a User Data Header


class MessageState:
    """message_state TLV values (SMPP 3.4 section 5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


#: Receipt text ``stat:`` values <-> message_state.
STAT_TO_STATE = {"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6,
                 "UNKNOWN": 7, "REJECTD": 8}
STATE_TO_STAT = {v: k for k, v in STAT_TO_STATE.items()}

# Mandatory parameters per command, in wire order: (name, kind) with kind "c" (C-octet string),
# "u8" (one octet) or "sm" (sm_length + short_message).
_SM_FIELDS = [
    ("service_type", "c"), ("source_addr_ton", "u8"), ("source_addr_npi", "u8"), ("source_addr", "c"),
    ("dest_addr_ton", "u8"), ("dest_addr_npi", "u8"), ("destination_addr", "c"), ("esm_class", "u8"),
    ("protocol_id", "u8"), ("priority_flag", "u8"), ("schedule_delivery_time", "c"),
    ("validity_period", "c"), ("registered_delivery", "u8"), ("replace_if_present_flag", "u8"),
    ("data_coding", "u8"), ("sm_default_msg_id", "u8"), ("short_message", "sm"),
]
_BIND_FIELDS = [
    ("system_id", "c"), ("password", "c"), ("system_type", "c"), ("interface_version", "u8"),
    ("addr_ton", "u8"), ("addr_npi", "u8"), ("address_range", "c"),
]
LAYOUTS: dict[int, list[tuple[str, str]]] = {
    Cmd.BIND_TRANSCEIVER: _BIND_FIELDS,
    Cmd.BIND_TRANSMITTER: _BIND_FIELDS,
    Cmd.BIND_RECEIVER: _BIND_FIELDS,
    Cmd.BIND_TRANSCEIVER_RESP: [("system_id", "c")],
    Cmd.BIND_TRANSMITTER_RESP: [("system_id", "c")],
    Cmd.BIND_RECEIVER_RESP: [("system_id", "c")],
    Cmd.SUBMIT_SM: _SM_FIELDS,
    Cmd.DELIVER_SM: _SM_FIELDS,
    Cmd.SUBMIT_SM_RESP: [("message_id", "c")],
    Cmd.DELIVER_SM_RESP: [("message_id", "c")],
    Cmd.ENQUIRE_LINK: [],
    Cmd.ENQUIRE_LINK_RESP: [],
    Cmd.UNBIND: [],
    Cmd.UNBIND_RESP: [],
    Cmd.GENERIC_NACK: [],
}
_DEFAULTS = {"c": "", "u8": 0, "sm": b""}


@dataclass
class Pdu:
    command_id: int
    sequence: int = 0
    status: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    #: Optional parameters by tag (raw value octets).
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        for fname, kind in LAYOUTS.get(self.command_id, []):
            if fname == name:
                return _DEFAULTS[kind]
        raise KeyError(name)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & Cmd.RESPONSE_BIT)

    def response(self, command_id: int | None = None, status: int = 0, **params: Any) -> "Pdu":
        """The response PDU to this request (same sequence number)."""
        cid = command_id if command_id is not None else self.command_id | Cmd.RESPONSE_BIT
        return Pdu(cid, self.sequence, status, params)

    def encode(self) -> bytes:
        body = bytearray()
        for name, kind in LAYOUTS.get(self.command_id, []):
            value = self.params.get(name, _DEFAULTS[kind])
            if kind == "c":
                raw = value.encode("latin-1") if isinstance(value, str) else bytes(value)
                if b"\x00" in raw:
                    raise PduError(f"{name} contains NUL")
                body += raw + b"\x00"
            elif kind == "u8":
                body.append(int(value) & 0xFF)
            else:
                raw = bytes(value)
                if len(raw) > 254:
                    raise PduError("short_message longer than 254 octets (use message_payload)")
                body.append(len(raw))
                body += raw
        for tag, value in self.tlvs.items():
            body += struct.pack(">HH", tag, len(value)) + value
        return HEADER.pack(HEADER.size + len(body), self.command_id, self.status, self.sequence) + bytes(body)


def decode(data: bytes) -> Pdu:
    """One complete PDU (header included)."""
    if len(data) < HEADER.size:
        raise PduError("PDU shorter than its header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError("command_length does not match the PDU")
    pdu = Pdu(command_id, sequence, status)
    pos = HEADER.size
    end = len(data)
    for name, kind in LAYOUTS.get(command_id, []):
        if pos >= end:
            break  # error responses and some SMSCs omit the body
        if kind == "c":
            nul = data.find(b"\x00", pos, end)
            if nul < 0:
                raise PduError(f"{name} is not NUL-terminated")
            pdu.params[name] = data[pos:nul].decode("latin-1")
            pos = nul + 1
        elif kind == "u8":
            pdu.params[name] = data[pos]
            pos += 1
        else:
            n = data[pos]
            if pos + 1 + n > end:
                raise PduError("sm_length runs past the PDU")
            pdu.params[name] = bytes(data[pos + 1:pos + 1 + n])
            pos += 1 + n
    if command_id in LAYOUTS:
        while pos + 4 <= end:
            tag, n = struct.unpack_from(">HH", data, pos)
            if pos + 4 + n > end:
                raise PduError(f"TLV 0x{tag:04x} runs past the PDU")
            pdu.tlvs[tag] = bytes(data[pos + 4:pos + 4 + n])
            pos += 4 + n
    return pdu


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """The next PDU from a stream; IncompleteReadError at EOF."""
    head = await reader.readexactly(4)
    (length,) = struct.unpack(">I", head)
    if not HEADER.size <= length <= MAX_PDU_OCTETS:
        raise PduError(f"command_length {length} out of bounds")
    return decode(head + await reader.readexactly(length - 4))


# --- helpers shared by the adapter and the simulator -------------------------------------------

def udh_concat(reference: int, total: int, seq: int) -> bytes:
    """6-octet UDH: IEI 0x00 (concatenated SMS, 8-bit reference), ref, total parts, this part (1-based)."""
    return bytes((0x05, 0x00, 0x03, reference & 0xFF, total, seq))


def split_udh(short_message: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """((ref, total, seq) or None, user data) from a short_message whose esm_class has UDHI set."""
    if not short_message:
        return None, short_message
    udhl = short_message[0]
    header, payload = short_message[1:1 + udhl], short_message[1 + udhl:]
    i, concat = 0, None
    while i + 2 <= len(header):
        iei, n = header[i], header[i + 1]
        value = header[i + 2:i + 2 + n]
        if iei == 0x00 and n == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and n == 4:  # 16-bit reference
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + n
    return concat, payload


def u16(value: int) -> bytes:
    return struct.pack(">H", value & 0xFFFF)


def c_string(value: str) -> bytes:
    """A TLV value holding a C-octet string (receipted_message_id)."""
    return value.encode("latin-1") + b"\x00"


_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):")


def parse_receipt_text(text: str) -> dict[str, str]:
    """Fields of a receipt short_message: ``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…``."""
    out: dict[str, str] = {}
    matches = list(_RECEIPT_FIELD.finditer(text))
    for m, nxt in zip(matches, matches[1:] + [None]):
        key = m.group(1)
        if key == "text":  # free text runs to the end, whatever it contains
            out[key] = text[m.end():]
            break
        if key not in out:
            out[key] = text[m.end():nxt.start() if nxt else len(text)].strip()
    return out


def format_receipt_text(message_id: str, stat: str, err: str, submit_date: str, done_date: str,
                        text: str = "") -> str:
    """The conventional receipt text (dates as YYMMDDhhmm)."""
    return (f"id:{message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:{submit_date} done date:{done_date} stat:{stat} err:{err} text:{text[:20]}")
