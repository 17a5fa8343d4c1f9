"""Console sessions: a person signs in with their API key once; the browser then holds only a random
session id, in an HttpOnly, SameSite=Strict cookie (Secure when served over TLS). The key itself is
never stored by the page, in Redis or in the cookie.

    signed out ──POST /console/sign-in (a live key)──▶ signed in ──sign-out──▶ signed out
                                                        │ no request for WARNCAST_CONSOLE_SESSION_S
                                                        │ the key revoked or rotated
                                                        └──▶ ended at the next request (sign in again)

A session lives in Redis under the SHA-256 of its id (``keys.console_session``) and carries the
key's id, organisation and role; every request reads the key's record again, so revoking or
rotating the key ends its sessions in every process at once. Each session has its own CSRF token;
every state change must send it (``X-CSRF-Token`` header or a ``csrf`` form field).

Roles are the API keys' own (``apikeys.ROLES``): issuers compose, operators approve and watch,
admins do both. There is no second permission system.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from aiohttp import web

from .. import keys
from ..apikeys import KeyStore, digest
from ..auth import Caller
from ..errors import Forbidden, NotFound, Unauthorized

COOKIE = "wc_console"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
#: Where the request's session is kept once looked up (one Redis read per request).
SESSION = web.RequestKey("console_session", object) if hasattr(web, "RequestKey") else "console_session"
API_PREFIX = "/console/api/"


@dataclass(frozen=True)
class ConsoleSession:
    sid_digest: str
    caller: Caller
    csrf: str
    created: float


def _sid_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


def _decode(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


class SessionStore:
    """Sessions in Redis with an idle expiry; ``clock`` is injectable for tests."""

    def __init__(self, redis, key_store: KeyStore, idle_s: int, clock: Callable[[], float] = time.time):
        self.redis, self.key_store, self.idle_s, self.clock = redis, key_store, max(1, idle_s), clock

    async def create(self, who: Caller) -> tuple[str, ConsoleSession]:
        """A new session for a caller that just proved its key: (session id for the cookie, session)."""
        sid, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock()
        admin = digest(self.key_store.admin_key) if who.key_id is None else ""
        key = keys.console_session(_sid_digest(sid))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"key_id": "" if who.key_id is None else who.key_id, "csrf": csrf,
                                "created": repr(now), "seen": repr(now), "admin": admin})
        pipe.expire(key, self.idle_s)
        await pipe.execute()
        return sid, ConsoleSession(_sid_digest(sid), who, csrf, now)

    async def load(self, sid: str) -> ConsoleSession | None:
        """The live session of a cookie, its idle time restarted; None when it is unknown, idle too
        long, or its key is revoked or rotated (the session is then deleted)."""
        if not sid or len(sid) > 128:
            return None
        key = keys.console_session(_sid_digest(sid))
        fields = _decode(await self.redis.hgetall(key))
        if not fields:
            return None
        now = self.clock()
        who = None if now - float(fields["seen"]) > self.idle_s else await self._caller(fields)
        if who is None:
            await self.redis.delete(key)
            return None
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, "seen", repr(now))
        pipe.expire(key, self.idle_s)
        await pipe.execute()
        return ConsoleSession(_sid_digest(sid), who, fields["csrf"], float(fields["created"]))

    async def _caller(self, fields: dict[str, str]) -> Caller | None:
        """The caller as the key's record says now; None when the key no longer stands."""
        if not fields["key_id"]:
            admin_key = self.key_store.admin_key
            if not admin_key or not hmac.compare_digest(digest(admin_key), fields["admin"]):
                return None
            return Caller("admin", "admin", ("*",), org="*")
        try:
            rec = await self.key_store.get(int(fields["key_id"]))
        except NotFound:
            return None
        if rec.revoked is not None or (rec.rotated is not None and rec.rotated >= float(fields["created"])):
            return None
        return Caller(rec.name, rec.role, tuple(rec.scopes), key_id=rec.id, org=rec.org, senders=tuple(rec.senders))

    async def delete(self, sid_digest: str) -> None:
        await self.redis.delete(keys.console_session(sid_digest))


STORE: web.AppKey[SessionStore] = web.AppKey("console_sessions", SessionStore)


def is_api(request: web.Request) -> bool:
    return request.path.startswith(API_PREFIX)


async def current_session(request: web.Request) -> ConsoleSession | None:
    """The request's console session, if its cookie names a live one."""
    if SESSION in request:
        return request[SESSION]
    found = await request.app[STORE].load(request.cookies.get(COOKIE, ""))
    request[SESSION] = found
    return found


async def console_caller(request: web.Request, *, roles: set[str]) -> Caller:
    """The signed-in caller, if its role is one of ``roles``. Without a session a page answers 303 to
    the sign-in page (and back here after), an API route 401; a role not allowed gets the 403 page,
    or a 403 JSON answer under /console/api/."""
    found = await current_session(request)
    if found is None:
        if is_api(request):
            raise Unauthorized("sign in to the console first (POST /console/sign-in)",
                               [{"field": "session", "message": "no live console session"}])
        raise web.HTTPSeeOther("/console/sign-in?next=" + quote(request.path_qs, safe="/"))
    who = found.caller
    if who.role not in roles:
        message = f"this needs the role {' or '.join(sorted(roles))}; you are signed in as {who.role}"
        if is_api(request):
            raise Forbidden(message, [{"field": "role", "message": message}])
        from .console_shell import forbidden_page
        raise forbidden_page(request, message)
    return who


def check_csrf(request: web.Request, form=None) -> None:
    """Refuse (403, naming the token) a state change without this session's CSRF token, sent in the
    X-CSRF-Token header or the ``csrf`` field of ``form`` (the already-read form body).
    Call after ``console_caller``."""
    found = request.get(SESSION)
    if found is None:
        raise Forbidden("sign in to the console first", [{"field": "session", "message": "no live console session"}])
    sent = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) if form is not None else None) or ""
    if not sent:
        raise Forbidden(f"the CSRF token is missing: send it in the {CSRF_HEADER} header or the {CSRF_FIELD} "
                        "form field", [{"field": CSRF_HEADER, "message": "missing"}])
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), found.csrf.encode()):
        raise Forbidden("the CSRF token is wrong for this session; reload the page",
                        [{"field": CSRF_HEADER, "message": "does not match this session"}])


def secure_cookies(request: web.Request, public_url: str) -> bool:
    """Cookies are Secure when this request came over TLS or the installation is public over https."""
    return request.secure or public_url.startswith("https://")


def set_session_cookie(response: web.StreamResponse, sid: str, *, secure: bool) -> None:
    """A browser-session cookie: it goes when the browser closes; the server ends it sooner when idle."""
    response.set_cookie(COOKIE, sid, path="/console", httponly=True, samesite="Strict", secure=secure)


def clear_session_cookie(response: web.StreamResponse, *, secure: bool) -> None:
    response.set_cookie(COOKIE, "", path="/console", httponly=True, samesite="Strict", secure=secure, max_age=0)
