"""A person's browser as far as HTTP goes: a cookie jar, the sign-in form, the CSRF token of the pages."""
from __future__ import annotations

import re

import aiohttp

_FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


class ConsoleClient:
    def __init__(self, url: str):
        self.url = url
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **kw) -> tuple[int, dict, str]:
        async with self.session.get(self.url + path, allow_redirects=False, **kw) as r:
            text = await r.text()
            found = _META.search(text)
            if found and found.group(1):
                self.csrf = found.group(1)
            return r.status, r.headers, text

    async def sign_in(self, key: str, next_path: str = "") -> tuple[int, dict, str]:
        """Open the sign-in form, paste the key, submit: (status, headers, page) of the answer."""
        status, _, page = await self.get("/console/sign-in" + (f"?next={next_path}" if next_path else ""))
        assert status == 200, page
        token = _FORM_TOKEN.search(page).group(1)
        form = {"csrf": token, "key": key, "next": next_path}
        async with self.session.post(self.url + "/console/sign-in", data=form, allow_redirects=False) as r:
            answer = (r.status, r.headers, await r.text())
        if answer[0] == 303:
            await self.get("/console")          # the landing page carries the session's CSRF token
        return answer

    async def call(self, method: str, path: str, *, json=None, csrf: str | None = None, **kw):
        """A console API call with this session's CSRF token (or the one given; "" sends none)."""
        token = self.csrf if csrf is None else csrf
        headers = {"X-CSRF-Token": token} if token else {}
        async with self.session.request(method, self.url + path, json=json, headers=headers,
                                        allow_redirects=False, **kw) as r:
            data = await r.json() if "json" in r.headers.get("Content-Type", "") else await r.text()
            return r.status, data

    async def sign_out(self, csrf: str | None = None) -> tuple[int, dict]:
        token = self.csrf if csrf is None else csrf
        async with self.session.post(self.url + "/console/sign-out", data={"csrf": token} if token else {},
                                     allow_redirects=False) as r:
            return r.status, r.headers
