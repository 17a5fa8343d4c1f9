"""The API with the console in a thread of its own, with a key for each person of the walkthrough."""
from __future__ import annotations

import dataclasses

from dispatcher.api import context as ctx
from dispatcher.settings import Settings
from tests.server_thread import ServerThread


class ConsoleServer(ServerThread):
    keys: dict[str, str]

    def settings(self) -> Settings:
        return dataclasses.replace(Settings(data_dir=self.data_dir, workers=2), host="127.0.0.1")

    async def prepare(self, app) -> None:
        ks = app[ctx.KEYS]
        self.keys = {"issuer": await ks.create("Li Wei", "issuer", ["11"], org="bjmb", senders=["bjmb@cma.gov.cn"]),
                     "operator": await ks.create("Zhang Min", "operator", org="bj-duty")}
