"""What every route module shares: JSON answers, the error middleware, who is calling."""
from __future__ import annotations

import logging

import orjson
from aiohttp import web

from ..auth import Caller, unauthorized
from ..errors import BadRequest, TooLarge, Unauthorized, WarncastError
from . import context as ctx

log = logging.getLogger("dispatcher.api")


def json_response(data, status: int = 200, headers=None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


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
    except WarncastError as exc:
        return json_response(error_body(exc.message, exc.errors), status=exc.status)
    except web.HTTPRequestEntityTooLarge:
        return json_response(error_body("request body too large", [{"path": "body", "message": "over the limit"}]),
                             status=413)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return json_response(error_body(exc.reason), status=exc.status)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(error_body("internal error; it has been logged"), status=500)


async def caller(request: web.Request, subscriber_ok: bool = False) -> Caller:
    """The authenticated caller, from 'Authorization: Bearer <key or subscriber token>' or X-API-Key."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    if not token and request.path.endswith("/stream"):
        token = request.query.get("access_token", "")
    if not token:
        raise unauthorized()
    app = request.app
    if token.startswith("wk_") or (app[ctx.KEYS].admin_key and token == app[ctx.KEYS].admin_key):
        found = await app[ctx.KEYS].authenticate(token)
        if found:
            return found
        raise Unauthorized("the API key is unknown or revoked; create one with `warncast keys create`")
    if subscriber_ok:
        sid = await app[ctx.ENGINE].subscribers.authenticate(token)
        if sid is not None:
            return Caller(f"subscriber:{sid}", "subscriber", (), sid)
        raise Unauthorized("the subscriber token is unknown or revoked")
    raise Unauthorized("this needs an API key (wk_…); the token sent is not one")



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


def int_param(request: web.Request, name: str, default: int, lo: int = 0, hi: int = 10**12) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit() or not lo <= int(raw) <= hi:
        raise BadRequest(f"query parameter {name} must be an integer from {lo} to {hi}",
                         [{"field": name, "message": "out of range"}])
    return int(raw)


def path_id(request: web.Request, name: str = "id") -> int:
    return int(request.match_info[name])
