"""Page objects of the console: what a person sees and does, so a changed layout changes one place."""
from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


class SignInPage:
    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url

    def open(self, path: str = "/console/sign-in") -> "SignInPage":
        self.page.goto(self.base_url + path)
        expect(self.page.get_by_role("heading", level=1)).to_be_visible()
        return self

    def sign_in(self, key: str) -> "ConsolePage":
        self.page.locator("#key").fill(key)
        self.page.locator("form.stack button[type=submit]").click()
        console = ConsolePage(self.page)
        expect(console.signed_in_as).to_be_visible()
        return console

    def sign_in_fails(self, key: str) -> Locator:
        self.page.locator("#key").fill(key)
        self.page.locator("form.stack button[type=submit]").click()
        return self.page.get_by_role("alert")


class ConsolePage:
    """Any signed-in page: the header, navigation and language switch of base.html."""

    def __init__(self, page: Page):
        self.page = page
        self.signed_in_as = page.locator("#signed-in-as")
        self.heading = page.get_by_role("heading", level=1)

    def nav(self) -> Locator:
        return self.page.get_by_role("navigation").get_by_role("link")

    def go(self, link_text: str) -> None:
        self.page.get_by_role("navigation").get_by_role("link", name=link_text, exact=True).click()

    def switch_language(self, label: str) -> None:
        self.page.get_by_role("button", name=label, exact=True).click()

    def sign_out(self) -> SignInPage:
        self.page.get_by_role("button", name="Sign out").or_(self.page.get_by_role("button", name="退出登录")).click()
        expect(self.page.get_by_role("status")).to_be_visible()
        return SignInPage(self.page, "")
