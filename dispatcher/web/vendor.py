"""Third-party browser libraries, vendored as published on the npm registry and served as-is.

Leaflet 1.9.4 (BSD-2-Clause, licence in vendor/leaflet/LICENSE), from `npm pack leaflet@1.9.4`
(sha256 of the tarball 84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77): the
console and the subscriber app draw their maps with it from vector layers only, no tile server.
Only the files shipped under vendor/ are served; no path from a request reaches the disk.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web

VENDOR = Path(__file__).parent / "vendor"
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
SHIPPED = frozenset(p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*")
                    if p.is_file() and p.suffix in TYPES)


@cache
def _file(name: str) -> bytes:
    return (VENDOR / name).read_bytes()


async def vendored(request: web.Request) -> web.Response:
    name = request.match_info["path"]
    if name not in SHIPPED:
        raise web.HTTPNotFound()
    return web.Response(body=_file(name), content_type=TYPES[Path(name).suffix],
                        headers={"Cache-Control": "max-age=86400", "X-Content-Type-Options": "nosniff"})


def setup(app: web.Application) -> None:
    app.router.add_get("/vendor/{path:.+}", vendored)
