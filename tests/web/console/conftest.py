"""One console server and one browser per test module; a fresh browser context per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web.console.server import ConsoleServer

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("WARNCAST_SCREENSHOTS", "")


def shot(page, name: str, full_page: bool = True) -> None:
    """With WARNCAST_SCREENSHOTS=<dir>, save what the person sees (docs/screenshots/ holds the committed ones)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


@pytest.fixture(scope="module")
def console_server(store, tmp_path_factory):
    store.sync().flushall()
    srv = ConsoleServer(store, tmp_path_factory.mktemp("console")).start()
    yield srv
    srv.stop()


@pytest.fixture
def desktop(browser, console_server):
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB")
    yield ctx
    ctx.close()


@pytest.fixture
def phone(browser, console_server):
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN")
    yield ctx
    ctx.close()
