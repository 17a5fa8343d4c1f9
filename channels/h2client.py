"""A small HTTP/2 client for one origin: a pool of connections, many concurrent streams on each.

APNs takes one request per notification, so its throughput is requests per second on few
connections. httpx's HTTP/2 path costs milliseconds of CPU per request at a few hundred streams
in flight (its pool and per-stream locks); this client is an ``asyncio.Protocol`` over ``h2``
that answers each stream with a future, and spreads streams over ``connections`` connections
opened on first use (h2c with prior knowledge for ``http://``, TLS with ALPN ``h2`` for
``https://``). A lost connection fails its streams with ``ConnectionError`` and is replaced on the
next request; a request without an answer in ``timeout_s`` raises ``asyncio.TimeoutError``.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hpack import NeverIndexedHeaderTuple

from channels import netguard

#: Receive window we grant (bytes), per stream and for the connection.
WINDOW = 1 << 24


@dataclass(slots=True)
class H2Response:
    status: int
    headers: dict[str, str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection; streams wait on futures resolved by ``data_received``."""

    def __init__(self) -> None:
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        # Header values go out without Huffman coding: a few more bytes on the wire, much less CPU
        # (hpack's Huffman encoder is pure Python and every request has a new :path).
        encode = self.conn.encoder.encode
        self.conn.encoder.encode = lambda headers, huffman=False: encode(headers, huffman=False)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, tuple[asyncio.Future, dict[str, str], bytearray]] = {}
        self.blocked: dict[int, bytes] = {}          # request bodies waiting for flow-control window
        self.closed = False

    @property
    def load(self) -> int:
        return len(self.streams)

    @property
    def max_streams(self) -> int:
        return self.conn.remote_settings.max_concurrent_streams

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW})
        self.conn.increment_flow_control_window(WINDOW)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = ConnectionError(f"HTTP/2 connection lost: {exc or 'closed by the server'}")
        for fut, _, _ in self.streams.values():
            if not fut.done():
                fut.set_exception(error)
        self.streams.clear()
        self.blocked.clear()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def request(self, headers: Sequence[tuple[str, str]], body: bytes) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        stream_id = self.conn.get_next_available_stream_id()
        self.streams[stream_id] = (fut, {}, bytearray())
        self.conn.send_headers(stream_id, headers, end_stream=not body)
        if body:
            self._send_body(stream_id, body)
        self._flush()
        return fut

    def _send_body(self, stream_id: int, body: bytes) -> None:
        window = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
        if len(body) <= window:
            self.conn.send_data(stream_id, body, end_stream=True)
            self.blocked.pop(stream_id, None)
        else:
            if window > 0:
                self.conn.send_data(stream_id, body[:window])
                body = body[window:]
            self.blocked[stream_id] = body

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            if self.transport is not None:
                self.transport.close()
            self.connection_lost(exc)
            return
        for event in events:
            self._on(event)
        self._flush()

    def _on(self, event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            entry = self.streams.get(event.stream_id)
            if entry is not None:
                entry[1].update(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            entry = self.streams.get(event.stream_id)
            if entry is not None:
                entry[2].extend(event.data)
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            entry = self.streams.pop(event.stream_id, None)
            self.blocked.pop(event.stream_id, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(ConnectionError(f"stream reset by the server (error {event.error_code})"))
        elif isinstance(event, h2.events.WindowUpdated):
            for stream_id, rest in list(self.blocked.items()):
                self._send_body(stream_id, rest)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True           # GOAWAY: streams above last_stream_id were not processed
            if self.transport is not None:
                self.transport.close()

    def _finish(self, stream_id: int) -> None:
        entry = self.streams.pop(stream_id, None)
        if entry is None:
            return
        fut, headers, body = entry
        if not fut.done():
            fut.set_result(H2Response(int(headers.pop(":status", 0)), headers, bytes(body)))

    def cancel(self, fut: asyncio.Future) -> None:
        """Reset the stream of a request given up on (a timeout)."""
        for stream_id, entry in list(self.streams.items()):
            if entry[0] is fut:
                self.streams.pop(stream_id, None)
                self.blocked.pop(stream_id, None)
                try:
                    self.conn.reset_stream(stream_id)
                except h2.exceptions.ProtocolError:
                    pass
                self._flush()
                return


class H2Pool:
    """``connections`` HTTP/2 connections to one origin; each request goes to the least loaded."""

    def __init__(self, url: str, *, connections: int = 4, timeout_s: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.authority = parts.netloc
        self.scheme = parts.scheme
        self.size = max(1, connections)
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        if self.tls and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        if self.ssl_context is not None:
            self.ssl_context.set_alpn_protocols(["h2"])
        self._conns: list[_Connection | None] = [None] * self.size
        self._opening: list[asyncio.Task | None] = [None] * self.size

    async def _connection(self) -> _Connection:
        """The least loaded live connection. Empty or dead slots start opening at once (all of them,
        so the pool fills on first use); a request with no live connection waits for the first."""
        for i, c in enumerate(self._conns):
            if (c is None or c.closed) and self._opening[i] is None:
                task = self._opening[i] = asyncio.ensure_future(self._open(i))
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
        live = [c for c in self._conns if c is not None and not c.closed]
        if not live:
            done, _ = await asyncio.wait([t for t in self._opening if t is not None],
                                         return_when=asyncio.FIRST_COMPLETED)
            ok = [t for t in done if not t.cancelled() and t.exception() is None]
            if ok:
                return ok[0].result()
            raise next(iter(done)).exception()
        room = [c for c in live if c.load < c.max_streams] or live
        return min(room, key=lambda c: c.load)

    async def _open(self, i: int) -> _Connection:
        try:
            conn = await self._connect()
            self._conns[i] = conn
            return conn
        finally:
            self._opening[i] = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        address = (await netguard.resolve(self.host, self.port))[0]      # never an internal address
        _, proto = await asyncio.wait_for(loop.create_connection(
            _Connection, address, self.port, ssl=self.ssl_context,
            server_hostname=self.host if self.tls else None), self.timeout_s)
        if self.tls:
            sslobj = proto.transport.get_extra_info("ssl_object")
            if sslobj is None or sslobj.selected_alpn_protocol() != "h2":
                proto.transport.close()
                raise ConnectionError("the server did not agree to HTTP/2 (ALPN h2)")
        return proto

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> H2Response:
        conn = await self._connection()
        # Per-request values are never indexed: they would push the shared ones (the bearer) out of the
        # HPACK table, which then costs a Huffman encoding of the bearer on every request.
        fields = [(":method", "POST"), (":scheme", self.scheme), (":authority", self.authority),
                  NeverIndexedHeaderTuple(":path", path), *headers.items(),
                  NeverIndexedHeaderTuple("content-length", str(len(body)))]
        try:
            fut = conn.request(fields, body)
        except h2.exceptions.ProtocolError as exc:
            conn.closed = True
            raise ConnectionError(f"HTTP/2 connection unusable: {type(exc).__name__}") from exc
        try:
            return await asyncio.wait_for(fut, self.timeout_s)
        except asyncio.TimeoutError:
            conn.cancel(fut)
            raise

    async def close(self) -> None:
        for task in self._opening:
            if task is not None:
                task.cancel()
        for c in self._conns:
            if c is not None and c.transport is not None:
                try:
                    c.conn.close_connection()
                    c._flush()
                except h2.exceptions.ProtocolError:
                    pass
                c.transport.close()
        self._conns = [None] * self.size
