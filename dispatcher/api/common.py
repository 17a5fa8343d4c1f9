"""What every route module shares: JSON answers, the error middleware, who is calling."""
from __future__ import annotations

import base64
import hashlib
import logging
import re

import orjson
from aiohttp import web
from redis.exceptions import ConnectionError as StoreDown, TimeoutError as StoreSlow

from .. import authlimit
from ..auth import Caller, unauthorized
from ..errors import BadRequest, NotFound, TooLarge, TooManyRequests, Unauthorized, WarncastError
from . import context as ctx

log = logging.getLogger("dispatcher.api")


def json_response(data, status: int = 200, headers=None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


#: Retry-After (s) of a 503 answered while Redis is unreachable.
STORE_RETRY_AFTER_S = 5
#: An error answer lists this many errors at most; ``errors_omitted`` counts the rest.
MAX_ERRORS = 50


def error_body(message: str, errors=None, warnings=None) -> dict:
    """Every error answer: a message, the first MAX_ERRORS errors (and how many more), warnings."""
    errors = list(errors or [])
    body = {"error": message, "errors": errors[:MAX_ERRORS], "warnings": list(warnings or [])[:MAX_ERRORS]}
    if len(errors) > MAX_ERRORS:
        body["errors_omitted"] = len(errors) - MAX_ERRORS
    return body


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except TooManyRequests as exc:
        return json_response(error_body(exc.message, exc.errors), status=exc.status,
                             headers={"Retry-After": str(exc.retry_after_s)})
    except WarncastError as exc:
        return json_response(error_body(exc.message, exc.errors), status=exc.status)
    except (StoreDown, StoreSlow) as exc:
        # The store is unreachable for now: a caller that retries (an SMS gateway re-posting its
        # reports, a client) comes back later; nothing was taken.
        log.warning("store unreachable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
        return json_response(error_body("the store is unreachable; try again shortly"), status=503,
                             headers={"Retry-After": str(STORE_RETRY_AFTER_S)})
    except web.HTTPRequestEntityTooLarge:
        return json_response(error_body("request body too large", [{"path": "body", "message": "over the limit"}]),
                             status=413)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type not in ("application/json", "text/html"):
            return json_response(error_body(exc.reason), status=exc.status)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(error_body("internal error; it has been logged"), status=500)


#: Longest credential looked up; anything longer is refused without a lookup.
MAX_TOKEN_CHARS = 512
#: The one route that takes a credential from the query string (EventSource cannot send headers).
QUERY_TOKEN_PATH = "/api/v1/inbox/stream"


def _credentials(request: web.Request) -> tuple[str, bool]:
    """(token, from_query): 'Authorization: Bearer …', X-API-Key, or ?access_token= on the inbox stream."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    if not token and request.path == QUERY_TOKEN_PATH:
        return request.query.get("access_token", ""), True
    return token, False


async def _lookup(app, token: str, subscriber_ok: bool, from_query: bool) -> Caller | None:
    keys = app[ctx.KEYS]
    if len(token) > MAX_TOKEN_CHARS:
        return None
    if not from_query and (token.startswith("wk_") or keys.is_admin_key(token)):
        return await keys.authenticate(token)
    if subscriber_ok:
        sid = await app[ctx.ENGINE].subscribers.authenticate(token)
        if sid is not None:
            return Caller(f"subscriber:{sid}", "subscriber", (), sid)
    return None


async def caller(request: web.Request, subscriber_ok: bool = False) -> Caller:
    """The authenticated caller. API keys come in a header only; ``?access_token=`` takes a
    subscriber token on the inbox stream only. Failures are limited per client address (429)."""
    token, from_query = _credentials(request)
    if not token:
        raise unauthorized()
    app, settings = request.app, request.app[ctx.SETTINGS]
    redis, client = app[ctx.REDIS], remote(request)
    await authlimit.check(redis, client, settings.auth_failure_burst)
    found = await _lookup(app, token, subscriber_ok, from_query)
    if found is None:
        await authlimit.failed(redis, client, settings.auth_failure_window_s)
        raise _not_recognised(app, token, subscriber_ok, from_query)
    return found


def _not_recognised(app, token: str, subscriber_ok: bool, from_query: bool) -> Unauthorized:
    """Credentials were sent but are not valid here: say which kind, not "send an API key"."""
    if not from_query and (token.startswith("wk_") or app[ctx.KEYS].is_admin_key(token)):
        return Unauthorized("the API key is unknown or revoked; create one with `warncast keys create`")
    if subscriber_ok or from_query:
        return Unauthorized("the subscriber token is unknown or revoked")
    return Unauthorized("this needs an API key (wk_…); the token sent is not one")


def remote(request: web.Request) -> str:
    """The client address as the audit trail and rate limits see it."""
    return request.remote or "unknown"


async def read_limited(request: web.Request, limit: int, path: str = "body") -> bytes:
    """The request body, or 413 as soon as it grows past ``limit`` bytes."""
    too_large = TooLarge(f"request body is larger than {limit} bytes",
                         [{"path": path, "message": f"the limit is {limit} bytes"}])
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int = 1 << 20):
    body = await read_limited(request, limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON ({exc})", [{"field": "body", "message": str(exc)}]) from None


_INTEGER = re.compile(r"-?[0-9]{1,18}")
_ID = re.compile(r"[0-9]{1,15}")


def int_param(request: web.Request, name: str, default: int, lo: int = 0, hi: int = 10**12) -> int:
    """A query parameter of ASCII digits (an optional minus) from ``lo`` to ``hi``, else 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or not lo <= int(raw) <= hi:
        raise BadRequest(f"query parameter {name} must be an integer from {lo} to {hi}",
                         [{"field": name, "message": f"must be an integer from {lo} to {hi}"}])
    return int(raw)


def path_id(request: web.Request, name: str = "id") -> int:
    """A path id of 1 to 15 ASCII digits; anything else names nothing (404)."""
    raw = request.match_info[name]
    if not _ID.fullmatch(raw):
        raise NotFound(f"no such {name} {raw[:40]!r}", [{"field": name, "message": "ids are 1 to 15 digits"}])
    return int(raw)


#: Sent with every response; HTML pages also get a Content-Security-Policy (see ``html_response``).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer"}
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_INLINE = re.compile(rb"<(script|style)>(.*?)</\1>", re.S)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: framing and sniffing are refused everywhere; HTML gets a CSP."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)


def page_csp(html: bytes) -> str:
    """A CSP for one page: same-origin fetches, and its own inline script and style by hash only."""
    hashes = {b"script": [], b"style": []}
    for kind, body in _INLINE.findall(html):
        hashes[kind].append("'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'")
    return (f"default-src 'none'; connect-src 'self'; img-src 'self' data:; "
            f"script-src {' '.join(hashes[b'script']) or chr(39) + 'none' + chr(39)}; "
            f"style-src {' '.join(hashes[b'style']) or chr(39) + 'none' + chr(39)}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def html_response(html: bytes, **headers: str) -> web.Response:
    return web.Response(body=html, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": page_csp(html), **headers})
