"""The API (with the subscriber app) in a thread of its own, for tests driving a real browser."""
from __future__ import annotations

import asyncio
import dataclasses
import threading

from dispatcher.api import context as ctx
from dispatcher.server import start_server
from dispatcher.settings import Settings


class Server:
    def __init__(self, store, data_dir):
        self.store, self.data_dir = store, data_dir
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None
        self.keys: dict[str, str] = {}

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:          # reported by start()
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    async def _start(self) -> None:
        s = dataclasses.replace(Settings(data_dir=self.data_dir, workers=2), host="127.0.0.1")
        self.runner, self.url, app = await start_server(s, self.store, port=0)
        ks = app[ctx.KEYS]
        self.keys = {"issuer": await ks.create("web-issuer", "issuer", ["11"]),
                     "operator": await ks.create("web-ops", "operator")}

    def start(self) -> "Server":
        self.thread.start()
        assert self.ready.wait(60), "the API did not start"
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
