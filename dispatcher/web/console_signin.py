"""Console sign-in, sign-out and the landing page; /ops now leads here.

Signing in takes an API key once (POST /console/sign-in, a form) and answers with the session
cookie (see session.py). The sign-in form carries a token of its own, matched against a cookie set
with the form, so another site cannot sign a browser in under its key. Failed sign-ins count
towards the same per-address limit as failed API authentications.
"""
from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from .. import audit, authlimit
from ..api import context as ctx
from ..api.common import json_response, remote
from ..audit import Action
from ..errors import TooManyRequests
from . import console_shell as shell
from .session import (STORE, SessionStore, check_csrf, clear_session_cookie, console_caller, current_session,
                      secure_cookies, set_session_cookie)

SIGNIN_COOKIE = "wc_signin"
#: Longest key accepted in the form; anything longer is refused without a lookup.
MAX_KEY_CHARS = 512


async def _sessions_ctx(app: web.Application):
    """After the API's resources: the session store over the same Redis and keys."""
    app[STORE] = SessionStore(app[ctx.REDIS], app[ctx.KEYS], app[ctx.SETTINGS].console_session_s)
    yield


def _secure(request: web.Request) -> bool:
    return secure_cookies(request, request.app[ctx.SETTINGS].public_url)


def _sign_in_form(request: web.Request, *, status: int = 200, error: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    resp = shell.page(request, "console/sign_in.html", status=status, error=error, form_token=token,
                      next=shell.safe_next(request.query.get("next")), signed_out="signed_out" in request.query)
    resp.set_cookie(SIGNIN_COOKIE, token, path="/console/sign-in", httponly=True, samesite="Strict",
                    secure=_secure(request))
    return resp


async def sign_in_page(request: web.Request) -> web.Response:
    if await current_session(request) is not None:
        raise web.HTTPSeeOther(shell.safe_next(request.query.get("next")))
    return _sign_in_form(request)


async def sign_in(request: web.Request) -> web.Response:
    form = await shell.read_form(request)
    t = shell.translator(shell.language(request))
    sent, expected = str(form.get("csrf", "")), request.cookies.get(SIGNIN_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _sign_in_form(request, status=403, error=t("signin_form_expired"))
    app, settings, client = request.app, request.app[ctx.SETTINGS], remote(request)
    try:
        await authlimit.check(app[ctx.REDIS], client, settings.auth_failure_burst)
    except TooManyRequests:
        return _sign_in_form(request, status=429, error=t("signin_too_many"))
    key = str(form.get("key", "")).strip()
    who = await app[ctx.KEYS].authenticate(key) if key and len(key) <= MAX_KEY_CHARS else None
    if who is None or (who.key_id is None and not app[ctx.KEYS].is_admin_key(key)):
        await authlimit.failed(app[ctx.REDIS], client, settings.auth_failure_window_s)
        return _sign_in_form(request, status=401, error=t("signin_unknown_key"))
    sid, _ = await app[STORE].create(who)
    await audit.record(app[ctx.REDIS], Action.CONSOLE_SIGNED_IN, who, client)
    resp = web.HTTPSeeOther(shell.safe_next(str(form.get("next", ""))), headers={"Cache-Control": "no-store"})
    set_session_cookie(resp, sid, secure=_secure(request))
    resp.del_cookie(SIGNIN_COOKIE, path="/console/sign-in")
    raise resp


async def sign_out(request: web.Request) -> web.Response:
    who = await console_caller(request, roles=shell.ALL_ROLES)
    check_csrf(request, await shell.read_form(request))
    found = await current_session(request)
    await request.app[STORE].delete(found.sid_digest)
    await audit.record(request.app[ctx.REDIS], Action.CONSOLE_SIGNED_OUT, who, remote(request))
    resp = web.HTTPSeeOther("/console/sign-in?signed_out=1")
    clear_session_cookie(resp, secure=_secure(request))
    raise resp


async def home(request: web.Request) -> web.Response:
    """The landing page: what this person's role can do here."""
    who = await console_caller(request, roles=shell.ALL_ROLES)
    return shell.page(request, "console/home.html", items=[n for n in shell.nav_for(request, who.role)
                                                           if n.path != "/console"])


async def session_info(request: web.Request) -> web.Response:
    """GET /console/api/session: who is signed in, and the CSRF token for scripts."""
    who = await console_caller(request, roles=shell.ALL_ROLES)
    found = await current_session(request)
    return json_response({"name": who.name, "role": who.role, "org": who.org, "key_id": who.key_id,
                          "csrf": found.csrf}, headers={"Cache-Control": "no-store"})


async def ops_moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_sessions_ctx)
    shell.setup(app)
    r = app.router
    r.add_get("/console", home)
    r.add_get("/console/", home)
    r.add_get("/console/sign-in", sign_in_page)
    r.add_post("/console/sign-in", sign_in)
    r.add_post("/console/sign-out", sign_out)
    r.add_get("/console/api/session", session_info)
    r.add_get("/ops", ops_moved)
