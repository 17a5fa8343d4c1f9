"""The API in a thread of its own, for tests whose client is synchronous (a browser, schemathesis).

Subclasses say which settings to run with (``settings``) and what to set up once it listens
(``prepare``: keys, subscribers)."""
from __future__ import annotations

import asyncio
import threading

from dispatcher.server import start_server
from dispatcher.settings import Settings


class ServerThread:
    def __init__(self, store, data_dir):
        self.store, self.data_dir = store, data_dir
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir)

    async def prepare(self, app) -> None:
        """Set up what the tests need once the API listens."""

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
        self.runner, self.url, app = await start_server(self.settings(), self.store, port=0)
        await self.prepare(app)

    def start(self):
        self.thread.start()
        assert self.ready.wait(60), "the API did not start"
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
