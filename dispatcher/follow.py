"""Following upstream CAP feeds: poll an Atom or RSS index, fetch each entry's CAP, and publish it here.

    poll index (If-None-Match / If-Modified-Since) ─▶ entries, oldest first ─▶ skip those seen
      ─▶ fetch CAP ─▶ parse + intake checks ─▶ issuer's scope? ─▶ admit (store, fan out) ─▶ mark seen

Each followed feed publishes as one issuer (``WARNCAST_FOLLOW="URL=issuer"`` for
``warncast serve``, or ``warncast follow URL --issuer NAME``): messages outside
that issuer's scopes, or refused by intake, are logged and skipped. The entry
links already handled are kept in Redis and alerts are deduplicated by their
CAP identity, so a restart sends nothing twice. An upstream that is down, slow
or serving garbage is retried with exponential backoff (from
``WARNCAST_FOLLOW_INTERVAL_S`` up to five minutes) and never stops the server.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

import aiohttp
from aiohttp import web
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from . import cap, intake, keys
from .auth import Caller
from .errors import WarncastError

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
MAX_INDEX_BYTES = 4 << 20
MAX_BACKOFF_S = 300.0
REQUEST_TIMEOUT_S = 10.0


class FeedError(Exception):
    """The upstream answered something that is not a usable Atom/RSS index or CAP document."""


@dataclass
class PollResult:
    dispatched: int = 0
    skipped: int = 0
    not_modified: bool = False


def entry_links(index: bytes, base_url: str) -> list[str]:
    """CAP links of an Atom or RSS index, oldest first (indexes list newest first)."""
    try:
        root = SafeET.fromstring(index, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as exc:
        raise FeedError(f"the index is not XML: {exc}") from None
    if root.tag == f"{ATOM}feed":
        links = [_atom_link(e) for e in root.findall(f"{ATOM}entry")]
    elif root.tag == "rss" or root.tag.endswith("RDF"):
        links = [_rss_link(i) for i in root.iter() if i.tag.rpartition("}")[2] == "item"]
    else:
        raise FeedError(f"the index is neither Atom nor RSS (root <{root.tag}>)")
    return [urljoin(base_url, link) for link in reversed(links) if link]


def _atom_link(entry: Element) -> str | None:
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if "cap" in (link.get("type") or "") and link.get("href"):
            return link.get("href")
    content = entry.find(f"{ATOM}content")
    if content is not None and content.get("src"):
        return content.get("src")
    alternate = [lk.get("href") for lk in links if lk.get("rel", "alternate") == "alternate" and lk.get("href")]
    return alternate[0] if alternate else None


def _rss_link(item: Element) -> str | None:
    for child in item:
        if child.tag.rpartition("}")[2] == "enclosure" and "cap" in (child.get("type") or ""):
            return child.get("url")
    for child in item:
        if child.tag.rpartition("}")[2] == "link" and (child.text or "").strip():
            return child.text.strip()
    return None


async def find_issuer(app: web.Application, name: str) -> Caller | None:
    """The issuer a feed publishes as: an active key whose name (or id) is ``name``."""
    from .api import context as ctx
    for rec in await app[ctx.KEYS].list():
        if name in (rec.name, str(rec.id)) and rec.revoked is None and rec.role in ("issuer", "admin"):
            return Caller(rec.name, rec.role, tuple(rec.scopes), key_id=rec.id, org=rec.org,
                          senders=tuple(rec.senders))
    return None


class Follower:
    """Follows one upstream index for one issuer."""

    def __init__(self, app: web.Application, url: str, issuer: str, session: aiohttp.ClientSession,
                 interval_s: float, timeout_s: float = REQUEST_TIMEOUT_S):
        self.app, self.url, self.issuer, self.session, self.interval_s = app, url, issuer, session, interval_s
        self.timeout_s = timeout_s
        from .api import context as ctx
        self.redis = app[ctx.REDIS]
        self.settings = app[ctx.SETTINGS]

    async def _get(self, url: str, limit: int, headers: dict | None = None) -> tuple[int, bytes, dict]:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with self.session.get(url, headers=headers or {}, timeout=timeout) as resp:
            if resp.status == 304:
                return 304, b"", dict(resp.headers)
            if resp.status != 200:
                raise FeedError(f"{url} answered {resp.status}")
            body = await resp.content.read(limit + 1)
            if len(body) > limit:
                raise FeedError(f"{url} is larger than {limit} bytes")
            return 200, body, dict(resp.headers)

    async def poll_once(self) -> PollResult:
        """One poll: the index if it changed, then every entry not handled yet."""
        state = await self.redis.hgetall(keys.follow_state(self.url))
        headers = {}
        if state.get(b"etag"):
            headers["If-None-Match"] = state[b"etag"].decode()
        if state.get(b"modified"):
            headers["If-Modified-Since"] = state[b"modified"].decode()
        status, body, got = await self._get(self.url, MAX_INDEX_BYTES, headers)
        if status == 304:
            return PollResult(not_modified=True)
        links = entry_links(body, self.url)
        who = await find_issuer(self.app, self.issuer)
        if who is None:
            raise FeedError(f"no issuer key named {self.issuer!r} to publish {self.url} as")
        result = PollResult()
        seen = await self.redis.smismember(keys.follow_seen(self.url), links) if links else []
        for link, done in zip(links, seen):
            if not done:
                dispatched = await self._entry(link, who)
                result.dispatched += dispatched
                result.skipped += not dispatched
        validators = {k: v for k, v in (("etag", got.get("ETag")), ("modified", got.get("Last-Modified"))) if v}
        if validators:
            await self.redis.hset(keys.follow_state(self.url), mapping=validators)
        return result

    async def _entry(self, link: str, who: Caller) -> bool:
        """Fetch, check and admit one entry's CAP; True when it was dispatched (or already here)."""
        from .api.issuer import admit
        _, body, _ = await self._get(link, self.settings.max_body_bytes)  # network errors: retried next poll
        try:
            alert = cap.parse_xml(body, self.settings.max_body_bytes)
            found = intake.review(alert, self.settings)
            if found.errors:
                raise cap.CapError(found.errors)
            rec, created, _ = await admit(self.app, who, alert, f"follow {self.url}")
        except cap.CapError as exc:
            log.warning("followed %s: %s refused: %s", self.url, link, exc)
            ok = False
        except WarncastError as exc:  # outside the issuer's scopes, conflicting duplicate, expired …
            log.warning("followed %s: %s skipped: %s", self.url, link, exc.message)
            ok = False
        else:
            log.info("followed %s: %s → alert %d%s", self.url, link, rec.id, "" if created else " (already here)")
            ok = True
        await self.redis.sadd(keys.follow_seen(self.url), link)
        return ok

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                await self.poll_once()
                failures = 0
            except (aiohttp.ClientError, asyncio.TimeoutError, FeedError, OSError) as exc:
                failures += 1
                log.warning("following %s failed (%s); trying again with backoff", self.url, exc)
            except Exception:  # anything else must not stop following either
                failures += 1
                log.exception("following %s failed; trying again with backoff", self.url)
            delay = min(self.interval_s * (2 ** failures), MAX_BACKOFF_S) * random.uniform(0.9, 1.1)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def follow_ctx(app: web.Application):
    """cleanup_ctx: one follower task per configured feed, stopped with the app."""
    from .api import context as ctx
    settings = app[ctx.SETTINGS]
    if not settings.follow:
        yield
        return
    stop = asyncio.Event()
    async with aiohttp.ClientSession(headers={"User-Agent": "warncast-follow"}) as session:
        timeout_s = min(REQUEST_TIMEOUT_S, max(1.0, settings.follow_interval_s * 10))
        tasks = [asyncio.ensure_future(Follower(app, url, issuer, session, settings.follow_interval_s,
                                                timeout_s).run(stop))
                 for url, issuer in settings.follow]
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
