"""Scaffolding shared by the HTTP provider simulators.

``HttpSimulator`` runs an aiohttp app on loopback and serves the control endpoints
every simulator has:

* ``GET /_ledger``  — ``{"summary": {...}, "entries": [...], "faults": {...}}``
* ``POST /_faults`` — JSON object of ``Faults`` fields to change (400 on an unknown one)
* ``POST /_reset``  — clear the ledger (and the last request seen)

A subclass adds its protocol routes in ``add_routes`` and wraps each message handler
in ``apply_faults`` for the knobs every protocol shares (down, latency, connection drops).
"""
from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict
from typing import Any, Awaitable, Callable

from aiohttp import web

from loadtest.simulators.base import Faults, Ledger


class DropConnection(Exception):
    """Raised inside a handler to close the connection without an answer."""


def control_answer(sim: "SimulatorState", method: str, path: str, body: bytes) -> tuple[int, dict] | None:
    """The control endpoints, independent of the HTTP stack (the HTTP/2 simulator uses it too)."""
    if path == "/_ledger" and method == "GET":
        return 200, {
            "summary": sim.ledger.summary(),
            "entries": [asdict(e) for e in sim.ledger.entries],
            "faults": sim.faults.to_dict(),
        }
    if path == "/_faults" and method == "POST":
        try:
            values = json.loads(body or b"{}")
            if not isinstance(values, dict):
                raise ValueError("expected a JSON object")
            sim.faults.update(values)
        except KeyError as exc:
            return 400, {"error": f"unknown fault knob: {exc.args[0]}"}
        except ValueError as exc:
            return 400, {"error": f"bad JSON: {exc}"}
        return 200, sim.faults.to_dict()
    if path == "/_reset" and method == "POST":
        sim.reset()
        return 200, {"ok": True}
    return None


class SimulatorState:
    """Ledger, faults and the last request seen: what tests and benchmarks inspect."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.ledger = Ledger()
        #: Headers of the last protocol request (lower-case names), for assertions.
        self.last_headers: dict[str, str] = {}
        #: Decoded body of the last protocol request.
        self.last_body: Any = None
        self.requests = 0

    def reset(self) -> None:
        self.ledger.clear()
        self.last_headers = {}
        self.last_body = None
        self.requests = 0

    @staticmethod
    def new_message_id() -> str:
        return uuid.uuid4().hex


class HttpSimulator(SimulatorState):
    """An aiohttp server on 127.0.0.1 with the control endpoints and fault helpers."""

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0
        #: Protocol requests being handled now, and the most seen at once.
        self.in_flight = 0
        self.peak_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "HttpSimulator":
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/_ledger", self._control)
        app.router.add_post("/_faults", self._control)
        app.router.add_post("/_reset", self._control)
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "HttpSimulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _control(self, request: web.Request) -> web.Response:
        answer = control_answer(self, request.method, request.path, await request.read())
        assert answer is not None
        status, payload = answer
        return web.json_response(payload, status=status)

    def note(self, request: web.Request, body: Any) -> None:
        self.requests += 1
        self.last_headers = {k.lower(): v for k, v in request.headers.items()}
        self.last_body = body

    def apply_faults(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a protocol handler with latency and connection drops."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                delay = self.faults.latency()
                if delay:
                    await asyncio.sleep(delay)
                if self.faults.chance(self.faults.drop_rate):
                    return drop(request)
                try:
                    return await handler(request)
                except DropConnection:
                    return drop(request)
            finally:
                self.in_flight -= 1

        return wrapped

    async def stall(self) -> None:
        """After recording an accepted message: hold the answer past the client's timeout."""
        if self.faults.chance(self.faults.accept_then_stall_rate):
            await asyncio.sleep(self.faults.stall_s)

    def retry_after_header(self) -> dict[str, str]:
        return {"Retry-After": f"{self.faults.retry_after_s:g}"}


def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection under the request; the client sees a reset / disconnect."""
    transport = request.transport
    if transport is not None:
        transport.abort() if hasattr(transport, "abort") else transport.close()
    raise asyncio.CancelledError()
