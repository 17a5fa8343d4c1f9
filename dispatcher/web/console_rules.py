"""Approval rules in the console: operators and admins read and change which warnings wait for a
second person (dispatcher/approval_rules.py); the page works without script.

    GET  /console/rules                   the page
    POST /console/rules                   form: csrf, and per rule row i: severities_i, statuses_i, orgs_i
    GET  /console/api/approval-rules      {"rules", "source", "by", "at"}
    PUT  /console/api/approval-rules      {"rules": [...]} or {"reset": true} (back to the environment's)
"""
from __future__ import annotations

from aiohttp import web

from .. import approval_rules, audit
from ..api import context as ctx
from ..api.common import json_response, read_json, remote
from ..audit import Action
from ..errors import BadRequest, Rejected
from . import console_shell as shell
from .session import check_csrf, console_caller

#: Empty rows offered on the page for new rules.
SPARE_ROWS = 1


async def _rules(app) -> approval_rules.Rules:
    return await approval_rules.load(app[ctx.REDIS], app[ctx.SETTINGS].approval_severities)


async def _save(request: web.Request, who, body) -> approval_rules.Rules:
    redis = request.app[ctx.REDIS]
    previous = await _rules(request.app)
    if isinstance(body, dict) and body.get("reset") is True:
        await approval_rules.reset(redis)
    else:
        try:
            rules = approval_rules.parse(body)
        except approval_rules.RuleError as exc:
            raise Rejected(str(exc), [{"field": exc.field, "message": str(exc)}]) from None
        await approval_rules.save(redis, rules, who.label)
    now = await _rules(request.app)
    await audit.record(redis, Action.APPROVAL_RULE_CHANGED, who, remote(request), rules=now.as_dict()["rules"],
                       previous=previous.as_dict()["rules"], source=now.source)
    return now


async def get_rules(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.ALL_ROLES)
    return json_response((await _rules(request.app)).as_dict())


async def put_rules(request: web.Request) -> web.Response:
    who = await console_caller(request, roles=shell.OPERATORS)
    check_csrf(request)
    return json_response((await _save(request, who, await read_json(request, 64 * 1024))).as_dict())


def _form_rules(form) -> dict:
    """Rows of the page's form as the JSON body: a row with no severity ticked is dropped."""
    rows = sorted({int(k.rsplit("_", 1)[1]) for k in form if k.startswith("severities_") and k[11:].isdigit()})
    rules = []
    for i in rows:
        severities = [s for s in form.getall(f"severities_{i}") if s]
        if not severities:
            continue
        orgs = [o.strip() for o in str(form.get(f"orgs_{i}", "")).split(",") if o.strip()] or ["*"]
        rules.append({"severities": severities,
                      "statuses": form.getall(f"statuses_{i}", []) or ["Actual"], "orgs": orgs})
    return {"rules": rules}


async def rules_page(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.OPERATORS)
    return _page(request, await _rules(request.app))


def _page(request, rules, *, status: int = 200, error: str = "", saved: bool = False) -> web.Response:
    rows = [r.as_dict() for r in rules.rules] + [{"severities": [], "statuses": ["Actual"], "orgs": ["*"]}] * SPARE_ROWS
    return shell.page(request, "console/rules.html", status=status, rules=rules, rows=rows, error=error, saved=saved,
                      severities=approval_rules.SEVERITIES, statuses=approval_rules.STATUSES)


async def save_rules_form(request: web.Request) -> web.Response:
    who = await console_caller(request, roles=shell.OPERATORS)
    form = await shell.read_form(request)
    check_csrf(request, form)
    body = {"reset": True} if form.get("reset") else _form_rules(form)
    try:
        rules = await _save(request, who, body)
    except (Rejected, BadRequest) as exc:
        return _page(request, await _rules(request.app), status=422, error=exc.message)
    return _page(request, rules, saved=True)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/rules", rules_page)
    app.router.add_post("/console/rules", save_rules_form)
    app.router.add_get("/console/api/approval-rules", get_rules)
    app.router.add_put("/console/api/approval-rules", put_rules)
