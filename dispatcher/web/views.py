"""Views of the subscriber app at /app: the shell page, its static files, the service worker, the
web manifest and the region list the sign-up form searches.

The app is plain ES modules and one stylesheet, no build step. Everything it does goes through the
public API with the subscriber's own token (kept in the browser's storage for this origin); the
pages carry no secret. Every page gets a Content-Security-Policy allowing only this origin.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
import orjson
from aiohttp import web

import templates as _templates
from subscribers import regions

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json",
         ".webmanifest": "application/manifest+json"}
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(_templates.__file__).parent / "web"),
                          autoescape=True, undefined=jinja2.StrictUndefined)


def _headers(cache_control: str = "no-cache") -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "Cache-Control": cache_control}


async def shell(request: web.Request) -> web.Response:
    html = _env.get_template("app.html").render(static="/app/static")
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=_headers())


#: The files the app serves: exactly those shipped in static/ (no path from a request reaches the disk).
SHIPPED = frozenset(p.name for p in STATIC.iterdir() if p.is_file())


@cache
def _file(name: str) -> bytes | None:
    return (STATIC / name).read_bytes() if name in SHIPPED else None


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = _file(name)
    if body is None:
        raise web.HTTPNotFound()
    return web.Response(body=body, content_type=TYPES.get(Path(name).suffix, "application/octet-stream"),
                        headers=_headers())


async def service_worker(request: web.Request) -> web.Response:
    """Served from /app/ so that its scope is the whole app."""
    return web.Response(body=_file("sw.js"), content_type="text/javascript",
                        headers={**_headers(), "Service-Worker-Allowed": "/app/"})


async def manifest(request: web.Request) -> web.Response:
    return web.Response(body=_file("manifest.webmanifest"), content_type="application/manifest+json",
                        headers=_headers())


@cache
def _regions() -> bytes:
    rows = [{"code": c, "zh": r["zh-CN"], "en": r["en-US"], "level": r.get("level", "")}
            for c, r in sorted(regions.registry().items()) if len(c) >= 6]
    return orjson.dumps({"regions": rows})


async def region_list(request: web.Request) -> web.Response:
    """Districts and streets of the region registry, for the sign-up form's search."""
    return web.Response(body=_regions(), content_type="application/json", headers=_headers("max-age=3600"))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/app", shell)
    r.add_get("/app/", shell)
    r.add_get("/app/sw.js", service_worker)
    r.add_get("/app/manifest.webmanifest", manifest)
    r.add_get("/app/regions.json", region_list)
    r.add_get("/app/static/{name}", static)
