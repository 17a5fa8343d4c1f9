"""The console's JSON API for drafts and their approval (session cookie; CSRF token on every change).

    POST /console/api/drafts                       {form}                → 201 the draft
    GET  /console/api/drafts?pending=1             an issuer's own organisation's, or (operators) pending
    GET  /console/api/drafts/{id}                  the draft, every version, its history, its authors
    PUT  /console/api/drafts/{id}                  {version, form}       → a new version
    POST /console/api/drafts/{id}/submit           {version}             → pending, or published
    POST /console/api/drafts/{id}/approve          {version}             → published (a second person)
    POST /console/api/drafts/{id}/reject           {version, reason}     → rejected
    POST /console/api/drafts/{id}/cancel           {}                    → cancelled
    GET  /console/api/drafts/{id}/diff?from=&to=   what changed between two versions
    POST /console/api/preview                      {form}                → renderings, warnings, estimate
"""
from __future__ import annotations

from aiohttp import web

from .. import draft_diff, draft_flow, draft_preview
from ..api import context as ctx
from ..api.common import int_param, json_response, path_id, read_json, remote
from ..drafts import DraftStore
from ..errors import BadRequest
from . import console_shell as shell
from .session import check_csrf, console_caller

DRAFTS = draft_flow.DRAFTS
BODY_LIMIT = 1 << 20


async def _drafts_ctx(app: web.Application):
    app[DRAFTS] = DraftStore(app[ctx.REDIS])
    yield


async def _change(request: web.Request, roles) -> tuple:
    """The caller of a state change: signed in with one of ``roles``, with the CSRF token."""
    who = await console_caller(request, roles=roles)
    check_csrf(request)
    body = await read_json(request, BODY_LIMIT) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object", [{"field": "body", "message": "not an object"}])
    return who, body


def _version(body: dict) -> int:
    v = body.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise BadRequest("name the version you acted on", [{"field": "version", "message": "a version number"}])
    return v


async def describe(app, draft) -> dict:
    """A draft with its current version's form, every version, its history and its authors."""
    store = app[DRAFTS]
    versions = await store.versions(draft.id)
    return {**draft.public(), "form": versions[-1].form if versions else {},
            "versions": [v.public() for v in versions], "history": await store.history(draft.id),
            "authors": await store.authors(draft.id)}


async def create(request: web.Request) -> web.Response:
    who, body = await _change(request, shell.ISSUERS)
    draft = await draft_flow.save(request.app, who, body.get("form"), remote(request))
    return json_response(await describe(request.app, draft), status=201)


async def update(request: web.Request) -> web.Response:
    who, body = await _change(request, shell.ISSUERS)
    draft = await draft_flow.save(request.app, who, body.get("form"), remote(request), path_id(request), _version(body))
    return json_response(await describe(request.app, draft))


async def get_draft(request: web.Request) -> web.Response:
    who = await console_caller(request, roles=shell.ALL_ROLES)
    draft = await request.app[DRAFTS].get(path_id(request))
    draft_flow.may_read(who, draft)
    return json_response(await describe(request.app, draft))


async def list_drafts(request: web.Request) -> web.Response:
    """An issuer's organisation's drafts; ?pending=1: those waiting for approval (operators)."""
    who = await console_caller(request, roles=shell.ALL_ROLES)
    store, limit = request.app[DRAFTS], int_param(request, "limit", 100, 1, 500)
    if request.query.get("pending") == "1" and who.role in ("operator", "admin"):
        drafts = await store.list(pending=True, limit=limit)
    elif who.role == "issuer":
        drafts = await store.list(org=who.org, limit=limit)
    else:
        drafts = await store.list(limit=limit)
    out = []
    for d in drafts:
        form = (await store.version(d.id, d.version)).form
        out.append({**d.public(), "headline": _headline(form), "severity": form.get("severity"),
                    "level": form.get("level"), "status": form.get("status")})
    return json_response({"drafts": out})


def _headline(form: dict) -> str:
    texts = form.get("texts", {})
    return next((t.get("headline", "") for t in texts.values() if t.get("headline")), "")


def _transition(step):
    async def handler(request: web.Request) -> web.Response:
        roles = shell.OPERATORS if step in (draft_flow.approve, draft_flow.reject) else shell.ALL_ROLES
        who, body = await _change(request, roles)
        args = [request.app, who, path_id(request)]
        if step is not draft_flow.cancel:
            args.append(_version(body))
        if step is draft_flow.reject:
            args.append(body.get("reason"))
        draft = await step(*args, remote(request))
        return json_response(await describe(request.app, draft))
    return handler


async def diff(request: web.Request) -> web.Response:
    who = await console_caller(request, roles=shell.ALL_ROLES)
    store = request.app[DRAFTS]
    draft = await store.get(path_id(request))
    draft_flow.may_read(who, draft)
    to = int_param(request, "to", draft.version, 1, 10_000)
    frm = int_param(request, "from", max(1, to - 1), 1, 10_000)
    old, new = await store.version(draft.id, frm), await store.version(draft.id, to)
    return json_response({"draft": draft.id, "from": frm, "to": to, "changes": draft_diff.diff(old.form, new.form)})


async def preview(request: web.Request) -> web.Response:
    """Read-only, but it carries the CSRF token like every POST of the console."""
    who, body = await _change(request, shell.ISSUERS)
    return json_response(await draft_preview.preview(request.app, who, body.get("form")))


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_drafts_ctx)
    r = app.router
    r.add_post("/console/api/drafts", create)
    r.add_get("/console/api/drafts", list_drafts)
    r.add_get(r"/console/api/drafts/{id:\d+}", get_draft)
    r.add_put(r"/console/api/drafts/{id:\d+}", update)
    for name, step in (("submit", draft_flow.submit), ("approve", draft_flow.approve),
                       ("reject", draft_flow.reject), ("cancel", draft_flow.cancel)):
        r.add_post(rf"/console/api/drafts/{{id:\d+}}/{name}", _transition(step))
    r.add_get(r"/console/api/drafts/{id:\d+}/diff", diff)
    r.add_post("/console/api/preview", preview)
