"""The console's shell: how its pages are rendered (Jinja2 templates under templates/web/console/,
extending base.html), its navigation, its language (zh-CN or en, remembered in a cookie), its
static files at /console/static/… and the policy every page is sent with.

Pages carry no secret but the session's CSRF token (in a meta element, read by console.js); they
run only this origin's scripts and styles (no inline script or style).

A page group adds its routes in its own ``console_<group>.py`` module; a navigation entry shows
only to the roles it names and only once its route is registered.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import orjson
from aiohttp import web

import templates as _templates

from ..errors import BadRequest
from .session import SESSION

STATIC = Path(__file__).parent / "static" / "console"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".svg": "image/svg+xml"}
LANGUAGES = ("zh-CN", "en")
LANG_COOKIE = "wc_lang"
ALL_ROLES = frozenset({"issuer", "operator", "admin"})
ISSUERS = frozenset({"issuer", "admin"})
OPERATORS = frozenset({"operator", "admin"})


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str                 #: key in the string catalogue (static/console/i18n.json)
    roles: frozenset[str]


#: The console's pages in navigation order; each shows to its roles once its route exists.
NAV = (
    NavItem("/console", "nav_home", ALL_ROLES),
    NavItem("/console/compose", "nav_compose", ISSUERS),
    NavItem("/console/drafts", "nav_drafts", ISSUERS),
    NavItem("/console/approvals", "nav_approvals", OPERATORS),
    NavItem("/console/dashboard", "nav_dashboard", OPERATORS),
    NavItem("/console/audit", "nav_audit", OPERATORS),
    NavItem("/console/rules", "nav_rules", OPERATORS),
)

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(_templates.__file__).parent / "web"),
                          autoescape=True, undefined=jinja2.StrictUndefined)


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """UI strings per language, shared by the server and console.js: i18n.json, then each page group's
    own i18n-<group>.json (a key is defined once)."""
    out = orjson.loads((STATIC / "i18n.json").read_bytes())
    for extra in sorted(STATIC.glob("i18n-*.json")):
        for lang, strings in orjson.loads(extra.read_bytes()).items():
            out.setdefault(lang, {}).update(strings)
    return out


def translator(lang: str):
    strings, fallback = catalogue()[lang], catalogue()["en"]

    def t(key: str, **values: Any) -> str:
        text = strings.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text
    return t


def language(request: web.Request) -> str:
    """The cookie's language, else the browser's first zh/en preference, else zh-CN."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "zh-CN"


def safe_next(target: str | None) -> str:
    """A console path to go back to; anything else (another site, a scheme) becomes /console."""
    if not target or not target.startswith("/console") or target.startswith("//") or "\\" in target:
        return "/console"
    return target


def _registered(app: web.Application) -> frozenset[str]:
    return frozenset(r.resource.canonical for r in app.router.routes() if r.method == "GET")


def nav_for(request: web.Request, role: str) -> list[NavItem]:
    routes = _registered(request.app)
    return [n for n in NAV if role in n.roles and n.path in routes]


def json_for_script(data) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    return orjson.dumps(data).decode().replace("<", "\\u003c")


def render_html(request: web.Request, template: str, **context: Any) -> str:
    found = request.get(SESSION)
    lang = language(request)
    who = found.caller if found else None
    return _env.get_template(template).render(
        lang=lang, t=translator(lang), who=who, csrf=found.csrf if found else "",
        nav=nav_for(request, who.role) if who else [], path=request.path, path_qs=request.path_qs, static="/console/static",
        strings_json=json_for_script(catalogue()[lang]), languages=LANGUAGES, **context)


async def read_form(request: web.Request):
    """The posted form (urlencoded or multipart), or 400 naming the body when it cannot be read."""
    try:
        return await request.post()
    except (ValueError, UnicodeDecodeError, AssertionError) as exc:
        raise BadRequest(f"the form could not be read ({str(exc)[:80]})",
                         [{"field": "body", "message": "send application/x-www-form-urlencoded"}]) from None


def headers() -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}


def page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A console page (no-store: it carries the session's CSRF token)."""
    return web.Response(text=render_html(request, template, **context), status=status, content_type="text/html",
                        charset="utf-8", headers=headers())


def forbidden_page(request: web.Request, message: str) -> web.HTTPForbidden:
    """The 403 page for a signed-in person whose role may not open a page (raise it)."""
    return web.HTTPForbidden(text=render_html(request, "console/forbidden.html", message=message),
                             content_type="text/html", headers=headers())


#: The files served at /console/static/: exactly those shipped (no path from a request reaches the disk).
SHIPPED = frozenset(p.name for p in STATIC.iterdir() if p.is_file())


@cache
def _file(name: str) -> bytes:
    return (STATIC / name).read_bytes()


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in SHIPPED:
        raise web.HTTPNotFound()
    return web.Response(body=_file(name), content_type=TYPES.get(Path(name).suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


async def choose_language(request: web.Request) -> web.Response:
    """GET /console/language?lang=en&next=/console/…: remember the language and go back."""
    lang = request.query.get("lang")
    resp = web.HTTPSeeOther(safe_next(request.query.get("next")))
    if lang in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, lang, path="/console", samesite="Strict", max_age=365 * 86_400,
                        secure=request.secure)
    raise resp


def setup(app: web.Application) -> None:
    app.router.add_get("/console/static/{name}", static)
    app.router.add_get("/console/language", choose_language)
