"""HTTP SMS gateway simulator: batched sends, per-number results, signed delivery-report callbacks.

Speaks the protocol ``channels.sms.SmsChannel`` talks (``POST /v1/sms/batch``,
JSON or form), answers per number, and posts delivery reports in batches to the
``callback_url`` of each request, signed as the real gateway signs them.
Fault knobs: ``Faults.error_rates`` keys "429" (with Retry-After), "500", "503"
(any other HTTP status code works too), ``drop_rate``, ``accept_then_stall_rate``,
``down``, ``latency_ms``, ``unregistered_fraction`` (INVALID_NUMBER, stable per
number) and the receipt knobs.
"""
from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from channels.sms import DEV_API_KEY, sign_reports
from loadtest.simulators.base import Faults, Ledger

#: Reports posted per callback request.
REPORT_BATCH = 500


@dataclass
class _PendingReport:
    """Reports due at one time to one callback URL (a whole batch when their delays are the same)."""

    due: float
    callback_url: str
    reports: list[dict[str, Any]]


class SmsGatewaySimulator:
    def __init__(self, faults: Faults | None = None, api_key: str = DEV_API_KEY,
                 callback_secret: str | None = None) -> None:
        self.faults = faults or Faults()
        self.api_key = api_key
        #: Signs delivery reports; a fresh random one unless given (pass it to warncast explicitly).
        self.callback_secret = callback_secret or secrets.token_urlsafe(24)
        self.ledger = Ledger()
        #: Batch requests received (whatever their answer) and the numbers each carried.
        self.requests = 0
        self.batch_sizes: list[int] = []
        #: The last text each number was sent (what that phone shows, e.g. a verification code).
        self.last_text: dict[str, str] = {}
        self.reports_sent = 0
        self.callback_failures = 0
        self._ids = itertools.count(1)
        self._pending: list[_PendingReport] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: web.AppRunner | None = None
        self._pump: asyncio.Task | None = None
        self._client: aiohttp.ClientSession | None = None
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 << 20)
        app.router.add_post("/v1/sms/batch", self._batch)
        app.router.add_get("/_ledger", self._get_ledger)
        app.router.add_post("/_faults", self._post_faults)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._pump = asyncio.create_task(self._pump_reports())
        return self.url

    async def stop(self) -> None:
        if self._pump:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        if self._client:
            await self._client.close()
        if self._runner:
            await self._runner.cleanup()

    async def drain_receipts(self, timeout_s: float = 10.0) -> None:
        """Wait until every scheduled delivery report has been posted."""
        await asyncio.wait_for(self._idle.wait(), timeout_s)

    # --- the gateway API -----------------------------------------------------------------------

    async def _batch(self, request: web.Request) -> web.StreamResponse:
        f = self.faults
        self.requests += 1
        if f.down:
            return web.json_response({"error": "SERVICE_DOWN"}, status=503,
                                     headers={"Retry-After": str(int(f.retry_after_s))})
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            return web.json_response({"error": "UNAUTHORIZED"}, status=401)
        try:
            numbers, text, reference, callback_url = await self._read(request)
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "BAD_REQUEST"}, status=400)
        self.batch_sizes.append(len(numbers))
        self.last_text.update(dict.fromkeys(numbers, text))
        delay = f.latency()
        if delay:
            await asyncio.sleep(delay)
        if f.chance(f.drop_rate):
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        error = f.pick_error()
        if error is not None:
            status = int(error)
            headers = {"Retry-After": str(int(f.retry_after_s))} if status in (429, 503) else {}
            return web.json_response({"error": f"HTTP_{status}"}, status=status, headers=headers)
        results, accepted = [], []
        for number in numbers:
            if not number.startswith("+") or not number[1:].isdigit() or f.unregistered(number):
                results.append({"to": number, "status": "rejected", "error": "INVALID_NUMBER"})
                continue
            message_id = f"sms-{next(self._ids):010d}"
            self.ledger.record(message_id, number, reference)
            results.append({"to": number, "status": "accepted", "message_id": message_id})
            accepted.append(message_id)
        if callback_url and accepted:
            self._schedule_reports(callback_url, accepted)
        if f.chance(f.accept_then_stall_rate):
            await asyncio.sleep(f.stall_s)
        return web.Response(body=orjson.dumps({"results": results}), content_type="application/json")

    async def _read(self, request: web.Request) -> tuple[list[str], str, str, str]:
        if request.content_type == "application/json":
            doc = orjson.loads(await request.read())
            numbers = [str(n) for n in doc["to"]]
        else:
            doc = dict(await request.post())
            numbers = [n.strip() for n in str(doc["to"]).split(",") if n.strip()]
        if not numbers:
            raise ValueError("no numbers")
        return numbers, str(doc["text"]), str(doc.get("reference", "")), str(doc.get("callback_url", ""))

    async def _get_ledger(self, request: web.Request) -> web.Response:
        return web.json_response({**self.ledger.summary(), "requests": self.requests,
                                  "reports_sent": self.reports_sent})

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults.update(await request.json())
        except (KeyError, ValueError, TypeError) as exc:
            return web.json_response({"error": f"unknown or bad knob: {exc}"}, status=400)
        return web.json_response(self.faults.to_dict())

    # --- delivery reports ----------------------------------------------------------------------

    def _schedule_reports(self, callback_url: str, message_ids: list[str]) -> None:
        """A report for each accepted message, due after the receipt delay (one pending entry for the
        batch when the delay is fixed and no report is failed, duplicated or reordered)."""
        f = self.faults
        lo, hi = f.receipt_delay_s
        now = time.monotonic()
        if hi <= lo and f.receipt_failed_rate <= 0 and f.receipt_duplicate_rate <= 0 and not f.receipt_out_of_order:
            reports = [{"message_id": m, "status": "DELIVERED", "error_code": ""} for m in message_ids]
            self._pending.append(_PendingReport(now + lo, callback_url, reports))
        else:
            for message_id in message_ids:
                due = now + (lo if hi <= lo else f.rng.uniform(lo, hi))
                if f.chance(f.receipt_failed_rate):
                    report = {"message_id": message_id, "status": "UNDELIVERABLE", "error_code": "DEST_UNREACHABLE"}
                else:
                    report = {"message_id": message_id, "status": "DELIVERED", "error_code": ""}
                copies = 2 if f.chance(f.receipt_duplicate_rate) else 1
                for _ in range(copies):
                    self._pending.append(_PendingReport(due, callback_url, [dict(report)]))
        self._idle.clear()
        self._wake.set()

    async def _pump_reports(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic()
            due = [p for p in self._pending if p.due <= now]
            if not due:
                await asyncio.sleep(min(0.05, min(p.due for p in self._pending) - now))
                continue
            self._pending = [p for p in self._pending if p.due > now]
            if self.faults.receipt_out_of_order:
                before = list(due)
                self.faults.rng.shuffle(due)
                if due == before:
                    due.reverse()
            by_url: dict[str, list[dict[str, Any]]] = {}
            for p in due:
                by_url.setdefault(p.callback_url, []).extend(p.reports)
            for url, reports in by_url.items():
                for k in range(0, len(reports), REPORT_BATCH):
                    await self._post_reports(url, reports[k:k + REPORT_BATCH])

    async def _post_reports(self, url: str, reports: list[dict[str, Any]]) -> None:
        done_at = int(time.time())
        body = orjson.dumps({"reports": [{**r, "done_at": done_at} for r in reports]})
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Timestamp": timestamp,
                   "X-Signature": sign_reports(self.callback_secret, timestamp, body)}
        assert self._client is not None
        try:
            async with self._client.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status < 300:
                    self.reports_sent += len(reports)
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        self.callback_failures += 1
