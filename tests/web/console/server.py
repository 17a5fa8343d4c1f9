"""The API with the console in a thread of its own, with a key for each person of the walkthrough,
an approval rule for Severe and Extreme warnings, and a few subscribers to estimate."""
from __future__ import annotations

import dataclasses

from dispatcher.api import context as ctx
from dispatcher.settings import Settings
from tests.server_thread import ServerThread

#: Subscribers per district: the walkthrough reaches Chaoyang's, then Haidian's too, never Dongcheng's.
SUBSCRIBERS = {"110105": 3, "110108": 1, "110101": 2}


class ConsoleServer(ServerThread):
    keys: dict[str, str]

    def settings(self) -> Settings:
        return dataclasses.replace(Settings(data_dir=self.data_dir, workers=2), host="127.0.0.1",
                                   approval_severities=("Extreme", "Severe"))

    async def prepare(self, app) -> None:
        ks = app[ctx.KEYS]
        self.keys = {"issuer": await ks.create("Li Wei", "issuer", ["11", "bbox:39.4,115.4,41.1,117.6"], org="bjmb", senders=["bjmb@cma.gov.cn"]),
                     "operator": await ks.create("Zhang Min", "operator", org="bj-duty")}
        for code, n in SUBSCRIBERS.items():
            for _ in range(n):
                await app[ctx.ENGINE].subscribers.create({"regions": [code]})
