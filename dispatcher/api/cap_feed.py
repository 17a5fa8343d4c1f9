"""The public CAP output: an RFC 4287 Atom feed of active public alerts and each alert's CAP 1.2 XML.

Links are built from ``WARNCAST_PUBLIC_URL`` (never from the request's Host
header, which a client chooses). Each stored alert has its own entry id, the
stable URI of its CAP document, so two alerts that share an identifier are
never merged by a feed reader. The feed is paged newest first: ``limit``
entries a page and a ``rel="next"`` link carrying ``before=<id>``; an ``ETag`` lets followers
poll with ``If-None-Match`` (304 when nothing changed).
Only alerts :func:`dispatcher.public.is_public` allows are shown. With a signing key
configured (:mod:`dispatcher.signatures`), each alert's CAP is served signed.
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from xml.etree import ElementTree as ET

from aiohttp import web

from .. import keys, signatures
from ..alerts import AlertRecord
from ..errors import BadRequest, NotFound
from ..lru import BoundedCache
from ..public import is_public
from . import context as ctx
from .common import int_param, path_id

ATOM = "http://www.w3.org/2005/Atom"
GEORSS = "http://www.georss.org/georss"
CAP_MEDIA = "application/cap+xml"
FEED_PAGE = 50
FEED_PAGE_MAX = 200


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def _before(request: web.Request) -> int | None:
    raw = request.query.get("before")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise BadRequest("query parameter before must be an alert id",
                         [{"field": "before", "message": "ASCII digits, at most 18"}])
    return int(raw)


async def _public_page(request: web.Request, limit: int, before: int | None) -> tuple[list[AlertRecord], bool]:
    """Up to ``limit`` public alerts, newest first, with ids below ``before``; and whether more remain."""
    engine, redis = request.app[ctx.ENGINE], request.app[ctx.REDIS]
    now = time.time()
    ids = sorted((int(i) for i in await redis.zrangebyscore(keys.ACTIVE_ALERTS, now, "+inf")), reverse=True)
    out: list[AlertRecord] = []
    for alert_id in ids:
        if before is not None and alert_id >= before:
            continue
        try:
            rec = await engine.alerts.get(alert_id)
        except NotFound:
            continue
        if not is_public(rec, now):
            continue
        if len(out) == limit:
            return out, True
        out.append(rec)
    return out, False


def _sub(parent: ET.Element, tag: str, text: str | None = None, ns: str = ATOM, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _georss(entry: ET.Element, rec: AlertRecord) -> None:
    """The first info's shapes as GeoRSS Simple (lat lon pairs; circle radius in metres)."""
    info = rec.alert.infos[0] if rec.alert.infos else None
    for area in info.areas if info else ():
        for ring in area.polygons:
            _sub(entry, "polygon", " ".join(f"{lat:g} {lon:g}" for lat, lon in ring), ns=GEORSS)
        for lat, lon, radius_km in area.circles:
            _sub(entry, "circle", f"{lat:g} {lon:g} {radius_km * 1000:g}", ns=GEORSS)
    if info and info.areas:
        _sub(entry, "featureName", "; ".join(a.area_desc for a in info.areas), ns=GEORSS)


def _entry(feed: ET.Element, rec: AlertRecord, base: str) -> None:
    alert = rec.alert
    info = alert.infos[0] if alert.infos else None
    href = f"{base}/cap/alerts/{rec.id}.xml"
    entry = _sub(feed, "entry")
    _sub(entry, "id", href)
    _sub(entry, "title", (info.headline or info.event) if info else alert.identifier)
    _sub(entry, "updated", _utc(alert.sent.timestamp()))
    _sub(entry, "published", _utc(alert.sent.timestamp()))
    author = _sub(entry, "author")
    _sub(author, "name", (info.sender_name if info and info.sender_name else alert.sender))
    _sub(entry, "link", rel="alternate", type=CAP_MEDIA, href=href)
    for category in sorted(alert.categories()):
        _sub(entry, "category", term=category)
    summary = f"{alert.msg_type} · {alert.severity()} · {alert.urgency()}"
    if info and info.description:
        summary += f" — {info.description}"
    _sub(entry, "summary", summary)
    _georss(entry, rec)


async def feed(request: web.Request) -> web.Response:
    """Active public alerts as an Atom feed, newest first, paged with ``limit`` and ``before``."""
    limit = int_param(request, "limit", FEED_PAGE, 1, FEED_PAGE_MAX)
    before = _before(request)
    base = request.app[ctx.SETTINGS].public_base()
    recs, more = await _public_page(request, limit, before)
    ET.register_namespace("", ATOM)
    ET.register_namespace("georss", GEORSS)
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, "id", f"{base}/cap/feed.atom")
    _sub(root, "title", "warncast: active public alerts")
    latest = max((r.alert.sent.timestamp() for r in recs), default=None)
    _sub(root, "updated", _utc(latest if latest is not None else 0.0))
    _sub(_sub(root, "author"), "name", "warncast")
    query = f"?limit={limit}" + (f"&before={before}" if before is not None else "")
    _sub(root, "link", rel="self", type="application/atom+xml", href=f"{base}/cap/feed.atom{query}")
    _sub(root, "link", rel="first", type="application/atom+xml", href=f"{base}/cap/feed.atom?limit={limit}")
    if more:
        _sub(root, "link", rel="next", type="application/atom+xml",
             href=f"{base}/cap/feed.atom?limit={limit}&before={recs[-1].id}")
    for rec in recs:
        _entry(root, rec, base)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8", headers={"ETag": etag})


async def public_cap(request: web.Request) -> web.Response:
    """The CAP 1.2 XML of a public alert (what the feed links to); 404 for anything not public."""
    try:
        rec = await request.app[ctx.ENGINE].alerts.get(path_id(request))
    except NotFound:
        raise NotFound("no such public alert") from None
    if not is_public(rec):
        raise NotFound("no such public alert")
    settings = request.app[ctx.SETTINGS]
    signer = signatures.signer(settings.signing_key_file, settings.signing_cert_file)
    body = rec.xml
    if signer is not None:
        key = (rec.id, hash(rec.xml))
        if key not in _SIGNED:
            _SIGNED[key] = signer.sign(rec.xml)
        body = _SIGNED[key]
    return web.Response(body=body, content_type=CAP_MEDIA, charset="utf-8")


#: Signed CAP per (alert id, content): signing costs a few ms; an alert's CAP never changes.
_SIGNED: BoundedCache[tuple[int, int], bytes] = BoundedCache(1024)


def setup(app: web.Application) -> None:
    app.router.add_get("/cap/feed.atom", feed)
    app.router.add_get(r"/cap/alerts/{id:\d+}.xml", public_cap)
