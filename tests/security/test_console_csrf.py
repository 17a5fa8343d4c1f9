"""Console state changes need the session's CSRF token (header or form field), and the sign-in form
its own token: a page on another site cannot sign a browser in or out, or act in its session."""
from __future__ import annotations

from tests.web.console.client import ConsoleClient


async def test_sign_out_without_the_token_is_refused_naming_it(api):
    person = ConsoleClient(api.url)
    try:
        await person.sign_in(api.keys["issuer"])
        async with person.session.post(api.url + "/console/sign-out", data={}, allow_redirects=False) as r:
            body = await r.json()
            assert r.status == 403 and "CSRF token is missing" in body["error"]
            assert body["errors"][0]["field"] == "X-CSRF-Token"
        status, _ = await person.sign_out(csrf="not-the-token")
        assert status == 403
        assert (await person.get("/console"))[0] == 200        # still signed in
        assert (await person.sign_out())[0] == 303
    finally:
        await person.close()


async def test_the_sign_in_form_needs_its_own_token(api):
    person = ConsoleClient(api.url)
    try:
        async with person.session.post(api.url + "/console/sign-in", data={"key": api.keys["admin"]},
                                       allow_redirects=False) as r:
            assert r.status == 403 and "wc_console=" not in ",".join(r.headers.getall("Set-Cookie", []))
    finally:
        await person.close()


async def test_a_form_that_cannot_be_read_is_a_400_naming_the_body(api):
    async with api.session.post(api.url + "/console/sign-in", data=b"--x\r\n",
                                headers={"Content-Type": "multipart/form-data"}) as r:
        body = await r.json()
        assert r.status == 400 and body["errors"][0]["field"] == "body"
