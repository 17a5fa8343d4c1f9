"""The API (with the subscriber app) in a thread of its own, for tests driving a real browser."""
from __future__ import annotations

import dataclasses

from dispatcher.api import context as ctx
from dispatcher.settings import Settings
from tests.server_thread import ServerThread


class Server(ServerThread):
    keys: dict[str, str]

    def settings(self) -> Settings:
        return dataclasses.replace(Settings(data_dir=self.data_dir, workers=2), host="127.0.0.1")

    async def prepare(self, app) -> None:
        ks = app[ctx.KEYS]
        self.keys = {"issuer": await ks.create("web-issuer", "issuer", ["11"]),
                     "operator": await ks.create("web-ops", "operator")}
