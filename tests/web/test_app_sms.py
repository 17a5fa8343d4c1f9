"""The app's SMS fallback in a real browser: a number is held as unconfirmed until its owner types the
one-time code the SMS gateway (its simulator) delivered, and only then joins the subscriber's channels."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import re

import pytest
import requests
from playwright.sync_api import expect

from dispatcher.server import start_server
from loadtest.simulators.run import SimulatorSet
from tests.web.pages import SettingsPage
from tests.web.server import Server
from tests.web.test_app import context, sign_up  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(120)
NUMBER = "+8613912345678"


class SmsServer(Server):
    """The app's server with the SMS channel, pointed at an SMS gateway simulator in its own loop."""

    def settings(self):
        return dataclasses.replace(super().settings(), channels=("sms",))

    async def _start(self) -> None:
        self.sims = await SimulatorSet(("sms",)).start({"sms": 0})
        saved = dict(os.environ)
        os.environ.update(self.sims.env())
        try:                                   # the adapters read their settings when they are made
            self.runner, self.url, app = await start_server(self.settings(), self.store, port=0)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        await self.prepare(app)

    def texts(self) -> dict[str, str]:
        return dict(self.sims.sims["sms"].last_text)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sims.stop(), self.loop).result(30)
        super().stop()


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    store.sync().flushall()
    srv = SmsServer(store, tmp_path_factory.mktemp("web-sms")).start()
    yield srv
    srv.stop()


def test_an_sms_number_counts_only_once_confirmed_with_the_code(context, server):  # noqa: F811
    page = context.new_page()
    sign_up(page, server)
    me = page.evaluate("JSON.parse(localStorage.getItem('warncast.subscriber'))")
    settings = SettingsPage.open(page)
    expect(settings.sms_row()).to_have_text("not added")
    settings.ask_for_code(NUMBER)
    expect(settings.status()).to_contain_text("We texted a code to +861****78")
    expect(settings.sms_row()).to_have_text("+861****78 (unconfirmed)")
    sub = requests.get(f"{server.url}/api/v1/subscribers/{me['id']}", timeout=10,
                       headers={"Authorization": f"Bearer {me['token']}"}).json()
    assert "sms" not in sub["endpoints"] and sub["channels"] == ["inapp"]      # held back until confirmed

    settings.enter_code("000000" if "000000" not in server.texts()[NUMBER] else "999999")
    expect(settings.status()).to_contain_text("code")                          # a wrong code is refused
    code = re.search(r"\b(\d{6})\b", server.texts()[NUMBER]).group(1)
    settings.enter_code(code)
    expect(settings.status()).to_have_text("Number confirmed: you will get a text when the app cannot reach you.")
    expect(settings.sms_row()).to_have_text(re.compile(r"\+86.*\(confirmed\)"))
    sub = requests.get(f"{server.url}/api/v1/subscribers/{me['id']}", timeout=10,
                       headers={"Authorization": f"Bearer {me['token']}"}).json()
    assert sub["channels"] == ["inapp", "sms"] and sub["endpoints"]["sms"]
