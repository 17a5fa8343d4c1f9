"""The console server for the operator's pages: an SMS gateway simulator that refuses everything
until told otherwise, and a few thousand subscribers in three districts, a third of them with SMS."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import socket

import orjson

from dispatcher.api import context as ctx
from dispatcher.server import start_server
from dispatcher.settings import Settings
from loadtest.simulators.base import Faults
from loadtest.simulators.run import SimulatorSet
from subscribers.importer import import_bytes
from tests.web.console.server import ConsoleServer

DISTRICTS = ("110105", "110108", "110101")
#: Subscribers; every third has an SMS number (it goes first, then in-app).
SUBSCRIBERS = 3_000


def subscribers_ndjson(n: int = SUBSCRIBERS) -> bytes:
    rows = []
    for i in range(n):
        row: dict = {"regions": [DISTRICTS[i % 3]]}
        if i % 3 == 0:
            row["endpoints"] = {"sms": f"+86138{i:08d}"}
            row["channels"] = ["sms", "inapp"]
        rows.append(orjson.dumps(row))
    return b"\n".join(rows) + b"\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WatchServer(ConsoleServer):
    sims: SimulatorSet

    def settings(self) -> Settings:
        return dataclasses.replace(super().settings(), channels=("sms",), max_attempts=1, approval_severities=(),
                                   live_tick_s=0.25)

    async def _start(self) -> None:
        self.sims = await SimulatorSet(("sms",), faults={"sms": Faults(error_rates={"400": 1.0})}).start({"sms": 0})
        port = _free_port()
        os.environ.update({**self.sims.env(), "WARNCAST_SMS_CALLBACK_URL": f"http://127.0.0.1:{port}/callbacks/sms"})
        self.runner, self.url, app = await start_server(self.settings(), self.store, port=port)
        await self.prepare(app)

    async def prepare(self, app) -> None:
        await super().prepare(app)
        report = await import_bytes(app[ctx.ENGINE].subscribers, subscribers_ndjson(), "ndjson")
        assert not report.errors, report.errors

    def fix_the_gateway(self) -> None:
        """The gateway takes messages again (from the test's thread: the simulator reads it per request)."""
        self.sims.sims["sms"].faults.error_rates = {}

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sims.stop(), self.loop).result(30)
        super().stop()
