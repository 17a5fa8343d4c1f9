"""Key administration over the API (admin only): list, create, revoke, rotate. Secrets are shown
once, in the answer that creates or rotates them; listings never include them."""
from __future__ import annotations

from aiohttp import web

from .. import audit
from ..apikeys import KeyFieldError
from ..audit import Action
from ..errors import BadRequest
from . import context as ctx
from .common import caller, json_response, path_id, read_json, remote

_FIELDS = {"name": str, "role": str, "scopes": list, "org": str, "senders": list}


def _create_fields(body) -> dict:
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object: name, role, scopes, org, senders",
                         [{"field": "body", "message": "must be an object"}])
    errors = [{"field": f, "message": f"must be {t.__name__}"} for f, t in _FIELDS.items()
              if f in body and not isinstance(body[f], t)]
    errors += [{"field": f, "message": "each item must be a string"} for f in ("scopes", "senders")
               if isinstance(body.get(f), list) and not all(isinstance(x, str) for x in body[f])]
    errors += [{"field": f, "message": "required"} for f in ("name", "role") if f not in body]
    errors += [{"field": f, "message": "unknown field"} for f in body if f not in _FIELDS]
    if errors:
        raise BadRequest("invalid key: " + ", ".join(e["field"] for e in errors), errors)
    return body


async def list_keys(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("admin")
    return json_response({"keys": [k.public() for k in await request.app[ctx.KEYS].list()]})


async def create_key(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("admin")
    body = _create_fields(await read_json(request, 64 * 1024))
    try:
        rec, secret = await request.app[ctx.KEYS].create_record(
            body["name"], body["role"], body.get("scopes"), org=body.get("org"), senders=body.get("senders"))
    except KeyFieldError as exc:
        raise BadRequest(str(exc), [{"field": exc.field, "message": str(exc)}]) from None
    await audit.record(request.app[ctx.REDIS], Action.KEY_CREATED, who, remote(request), key=rec.id, name=rec.name,
                       role=rec.role, scopes=rec.scopes, org=rec.org, senders=rec.senders)
    return json_response({"key": rec.public(), "secret": secret}, status=201,
                         headers={"Location": f"/api/v1/keys/{rec.id}"})


async def revoke_key(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("admin")
    rec = await request.app[ctx.KEYS].revoke(path_id(request))
    await audit.record(request.app[ctx.REDIS], Action.KEY_REVOKED, who, remote(request), key=rec.id, name=rec.name)
    return json_response({"key": rec.public()})


async def rotate_key(request: web.Request) -> web.Response:
    who = await caller(request)
    who.require("admin")
    rec, secret = await request.app[ctx.KEYS].rotate(path_id(request))
    await audit.record(request.app[ctx.REDIS], Action.KEY_ROTATED, who, remote(request), key=rec.id, name=rec.name)
    return json_response({"key": rec.public(), "secret": secret})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/keys", list_keys)
    r.add_post("/api/v1/keys", create_key)
    r.add_post(r"/api/v1/keys/{id:\d+}/revoke", revoke_key)
    r.add_post(r"/api/v1/keys/{id:\d+}/rotate", rotate_key)
