"""APNs provider API simulator: HTTP/2 (h2c with prior knowledge, or TLS with ALPN h2).

Verifies the provider JWT (ES256, ``kid`` = the team key id, ``iss`` = the team id,
``iat`` younger than an hour, else ``ExpiredProviderToken``), the topic, the device
token and the payload, and answers with the ``reason`` codes of Apple's reference.

Error knobs (``Faults.error_rates`` keys): any APNs reason (``"Unregistered"``,
``"BadDeviceToken"``, ``"TooManyRequests"``, ``"ExpiredProviderToken"``, ...) or the HTTP
statuses ``"400" "403" "410" "413" "429" "500" "503"``. The control endpoints
(``/_ledger``, ``/_faults``, ``/_reset``) are served over the same HTTP/2 port.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import re
import ssl
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from loadtest.simulators.base import Faults
from loadtest.simulators.http_base import SimulatorState, control_answer

MAX_PAYLOAD_BYTES = 4096
TOKEN_MAX_AGE_S = 3600
_TOKEN_RE = re.compile(r"^[0-9a-fA-F]{64,200}$")

#: reason -> HTTP status, as APNs answers it.
APNS_REASONS: dict[str, int] = {
    "BadCollapseId": 400, "BadDeviceToken": 400, "BadExpirationDate": 400, "BadMessageId": 400,
    "BadPriority": 400, "BadTopic": 400, "DeviceTokenNotForTopic": 400, "DuplicateHeaders": 400,
    "IdleTimeout": 400, "InvalidPushType": 400, "MissingDeviceToken": 400, "MissingTopic": 400,
    "PayloadEmpty": 400, "TopicDisallowed": 400,
    "BadCertificate": 403, "BadCertificateEnvironment": 403, "ExpiredProviderToken": 403,
    "Forbidden": 403, "InvalidProviderToken": 403, "MissingProviderToken": 403,
    "BadPath": 404, "MethodNotAllowed": 405, "ExpiredToken": 410, "Unregistered": 410,
    "PayloadTooLarge": 413, "TooManyProviderTokenUpdates": 429, "TooManyRequests": 429,
    "InternalServerError": 500, "ServiceUnavailable": 503, "Shutdown": 503,
}
_STATUS_REASON = {"400": "BadDeviceToken", "403": "InvalidProviderToken", "410": "Unregistered",
                  "413": "PayloadTooLarge", "429": "TooManyRequests", "500": "InternalServerError",
                  "503": "ServiceUnavailable"}


class _Stream:
    __slots__ = ("headers", "body")

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.body = bytearray()


class _H2Server(asyncio.Protocol):
    """One HTTP/2 connection: collects each stream's request and hands it to the simulator."""

    def __init__(self, sim: "ApnsSimulator") -> None:
        self.sim = sim
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sim._connections.add(self)
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.sim._connections.discard(self)
        for task in self.tasks:
            task.cancel()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = _Stream({k: v for k, v in event.headers})
                if event.stream_ended:
                    self._dispatch(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._dispatch(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                if self.transport is not None:
                    self.transport.close()
        self._flush()

    def _dispatch(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return
        task = asyncio.get_running_loop().create_task(self._answer(stream_id, stream))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, stream_id: int, stream: _Stream) -> None:
        answer = await self.sim.handle(stream.headers, bytes(stream.body))
        if answer is None:  # drop the connection
            if self.transport is not None:
                self.transport.abort()
            return
        status, headers, body = answer
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.conn.send_headers(stream_id, [(":status", str(status)), *headers.items(),
                                               ("content-length", str(len(body)))], end_stream=not body)
            if body:
                self.conn.send_data(stream_id, body, end_stream=True)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass
        self._flush()


class ApnsSimulator(SimulatorState):
    def __init__(self, faults: Faults | None = None, *, team_key: tuple[str, str, str] | None = None,
                 topic: str = "org.warncast.app", tls: bool = False) -> None:
        super().__init__(faults)
        key_id, team_id, pem = team_key or load_dev_team_key()
        self.key_id, self.team_id = key_id, team_id
        self._public_key = serialization.load_pem_private_key(pem.encode(), None).public_key()
        self.topic = topic
        self.tls = tls
        #: PEM file of the self-signed certificate when ``tls`` (give it to the client as its CA).
        self.ca_file = ""
        self.host = "127.0.0.1"
        self.port = 0
        #: Device requests being handled now, and the most seen at once.
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_H2Server] = set()
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        #: Provider JWTs seen (distinct), to observe reuse and regeneration.
        self.provider_tokens_seen: set[str] = set()
        #: Provider JWTs answered ExpiredProviderToken on purpose (``expire_provider_tokens``).
        self._expired_tokens: set[str] = set()
        #: Claims of provider JWTs whose signature was checked.
        self._verified: dict[str, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @staticmethod
    def make_team_key(key_id: str = "", team_id: str = "") -> tuple[str, str, str]:
        """(key_id, team_id, PKCS#8 PEM) of a fresh P-256 signing key, like a .p8 from Apple."""
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return key_id or uuid.uuid4().hex[:10].upper(), team_id or uuid.uuid4().hex[:10].upper(), pem

    @staticmethod
    def make_device_token(i: int) -> str:
        return f"{i:064x}"

    def expire_provider_tokens(self) -> None:
        """Answer ExpiredProviderToken to every provider JWT seen so far."""
        self._expired_tokens |= self.provider_tokens_seen

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "ApnsSimulator":
        ctx = None
        if self.tls:
            ctx = self._tls_context(host)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _H2Server(self), host, port, ssl=ctx)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for c in list(self._connections):
                if c.transport is not None:
                    c.transport.abort()
            await self._server.wait_closed()
            self._server = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    async def __aenter__(self) -> "ApnsSimulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _tls_context(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warncast apns simulator")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self._tmpdir = tempfile.TemporaryDirectory(prefix="apns-sim-")
        cert_path = Path(self._tmpdir.name) / "cert.pem"
        key_path = Path(self._tmpdir.name) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_path, key_path)
        ctx.set_alpn_protocols(["h2"])
        self.ca_file = str(cert_path)
        return ctx

    # -- protocol ---------------------------------------------------------------------

    def _error(self, reason: str, apns_id: str, extra: dict[str, Any] | None = None) -> tuple[int, dict, bytes]:
        status = APNS_REASONS[reason]
        headers = {"apns-id": apns_id, "content-type": "application/json"}
        if status in (429, 503):
            headers["retry-after"] = f"{self.faults.retry_after_s:g}"
        return status, headers, json.dumps({"reason": reason, **(extra or {})}).encode()

    def _check_provider_token(self, authorization: str) -> str | None:
        """The reason to refuse the provider JWT with, or None when it is good."""
        if not authorization.lower().startswith("bearer "):
            return "MissingProviderToken"
        token = authorization[7:].strip()
        self.provider_tokens_seen.add(token)
        if token in self._expired_tokens:
            return "ExpiredProviderToken"
        claims = self._verified.get(token)
        if claims is None:
            try:
                header = jwt.get_unverified_header(token)
                if header.get("alg") != "ES256" or header.get("kid") != self.key_id:
                    return "InvalidProviderToken"
                claims = jwt.decode(token, self._public_key, algorithms=["ES256"],
                                    options={"require": ["iss", "iat"]})
            except jwt.PyJWTError:
                return "InvalidProviderToken"
            # A provider reuses its JWT for tens of minutes; APNs checks the signature once, not per request.
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[token] = claims
        if claims["iss"] != self.team_id:
            return "InvalidProviderToken"
        if time.time() - float(claims["iat"]) > TOKEN_MAX_AGE_S:
            return "ExpiredProviderToken"
        return None

    async def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes] | None:
        """One request -> (status, headers, body); None drops the connection."""
        method, path = headers.get(":method", ""), headers.get(":path", "")
        control = control_answer(self, method, path, body)
        if control is not None:
            status, payload = control
            return status, {"content-type": "application/json"}, json.dumps(payload).encode()

        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._device_request(method, path, headers, body)
        finally:
            self.in_flight -= 1

    async def _device_request(self, method: str, path: str, headers: dict[str, str],
                              body: bytes) -> tuple[int, dict, bytes] | None:
        delay = self.faults.latency()
        if delay:
            await asyncio.sleep(delay)
        if self.faults.chance(self.faults.drop_rate):
            return None
        self.requests += 1
        self.last_headers = {k: v for k, v in headers.items() if not k.startswith(":")}
        try:
            self.last_body = json.loads(body) if body else None
        except ValueError:
            self.last_body = None
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        if self.faults.down:
            return self._error("ServiceUnavailable", apns_id)
        if method != "POST":
            return self._error("MethodNotAllowed", apns_id)
        if not path.startswith("/3/device/"):
            return self._error("BadPath", apns_id)
        refusal = self._check_provider_token(headers.get("authorization", ""))
        if refusal:
            return self._error(refusal, apns_id)
        knob = self.faults.pick_error()
        if knob is not None:
            reason = _STATUS_REASON.get(knob, knob)
            extra = {"timestamp": int(time.time() * 1000)} if APNS_REASONS.get(reason) == 410 else None
            return self._error(reason, apns_id, extra)
        token = path[len("/3/device/"):]
        if not token:
            return self._error("MissingDeviceToken", apns_id)
        if not _TOKEN_RE.match(token):
            return self._error("BadDeviceToken", apns_id)
        topic = headers.get("apns-topic")
        if not topic:
            return self._error("MissingTopic", apns_id)
        if topic != self.topic:
            return self._error("DeviceTokenNotForTopic", apns_id)
        if headers.get("apns-push-type", "alert") not in ("alert", "background", "voip", "complication",
                                                          "fileprovider", "mdm", "liveactivity", "location"):
            return self._error("InvalidPushType", apns_id)
        if headers.get("apns-priority", "10") not in ("10", "5", "1"):
            return self._error("BadPriority", apns_id)
        expiration = headers.get("apns-expiration", "0")
        if not expiration.isdigit():
            return self._error("BadExpirationDate", apns_id)
        collapse = headers.get("apns-collapse-id", "")
        if len(collapse.encode()) > 64:
            return self._error("BadCollapseId", apns_id)
        if not body:
            return self._error("PayloadEmpty", apns_id)
        if len(body) > MAX_PAYLOAD_BYTES:
            return self._error("PayloadTooLarge", apns_id)
        payload = self.last_body
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return self._error("PayloadEmpty", apns_id)
        if self.faults.unregistered(token):
            return self._error("Unregistered", apns_id, {"timestamp": int(time.time() * 1000)})
        self.ledger.record(apns_id, token, str(payload.get("alert_id", "")), collapse)
        await self.stall()
        return 200, {"apns-id": apns_id, "apns-unique-id": str(uuid.uuid4())}, b""

    async def stall(self) -> None:
        if self.faults.chance(self.faults.accept_then_stall_rate):
            await asyncio.sleep(self.faults.stall_s)


def load_dev_team_key(directory: str | os.PathLike[str] = "var/simulators",
                      key_id: str = "DEVKEY0001", team_id: str = "WARNCAST01") -> tuple[str, str, str]:
    """The development team key shared by the simulator and ``ApnsSettings``' default; made once."""
    path = Path(directory) / "apns-dev-key.p8"
    if not path.exists():
        _, _, pem = ApnsSimulator.make_team_key(key_id, team_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(pem, encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return key_id, team_id, path.read_text(encoding="utf-8")
