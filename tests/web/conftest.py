"""The API fixtures of tests/dispatcher, for the app views; and one Chromium per test module for the
browser tests of the app and the console (Debian's Chromium, never a downloaded browser)."""
import pytest
from playwright.sync_api import sync_playwright

from tests.dispatcher.conftest import api, settings  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
