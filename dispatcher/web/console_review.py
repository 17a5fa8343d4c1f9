"""The pages around approval: an issuer's drafts (rejections with their reasons, edit and resubmit)
and the approvals an operator works through (what changed between versions, approve, reject with a
reason). Both are shells; their scripts read and act through /console/api/drafts."""
from __future__ import annotations

from aiohttp import web

from . import console_shell as shell
from .session import console_caller


async def drafts_page(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.ISSUERS)
    return shell.page(request, "console/drafts.html")


async def approvals_page(request: web.Request) -> web.Response:
    await console_caller(request, roles=shell.OPERATORS)
    return shell.page(request, "console/approvals.html")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/drafts", drafts_page)
    app.router.add_get("/console/approvals", approvals_page)
