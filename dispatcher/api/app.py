"""The HTTP API: an aiohttp app factory; resources opened and closed by cleanup contexts."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from channels import registry

from .. import audit
from ..auth import KeyStore
from ..follow import follow_ctx
from ..fanout import Engine
from ..guard import RedisGuard
from ..metrics import http_metrics_middleware
from ..pool import LocalPool
from ..private_delivery import PrivateDelivery
from ..receipts import ReceiptSink
from ..settings import Settings
from ..via import provider_rate_limits
from ..store import Store
from . import context as ctx
from .common import errors_middleware, security_headers
from . import audit_api, callbacks, cap_feed, inbox, issuer, keys_api, ops, subscriber_api, validate_api
from . import households_api, sensors_api, shelters_api
from ..web import console_audit, console_compose, console_drafts_api, console_review, console_rules, console_signin
from ..web import console_drill, console_live, console_watch
from ..web import vendor as web_vendor
from ..web import views as web_views

log = logging.getLogger(__name__)


async def _reap_forever(engine, every_s: float = 2.0) -> None:
    """With no in-process pool, the API still re-plans alerts whose planning was interrupted."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await engine.reap()
        except Exception:
            log.exception("reaping failed; trying again")


def make_app(settings: Settings, store: Store, *, workers: int | None = None, channels=None) -> web.Application:
    """Build the app; ``workers`` shard jobs run in-process (0 = leave them to `warncast worker`)."""
    app = web.Application(middlewares=[http_metrics_middleware, errors_middleware], client_max_size=settings.max_import_bytes)
    app[ctx.SETTINGS] = settings
    app[ctx.STORE] = store
    app.on_response_prepare.append(security_headers)

    async def resources(app: web.Application):
        redis = store.aio()
        sink = ReceiptSink(redis, settings.shard_size)
        chans = channels if channels is not None else registry.build(
            settings.channels, redis, sms_transport=settings.sms_transport, webhook_urls=settings.webhook_urls,
            webhook_format=settings.webhook_format, on_receipt=sink.add)
        for ch in chans.values():
            await ch.open()
        engine = Engine(redis, settings, chans, guard=RedisGuard(
            redis, rate_limits=provider_rate_limits(dict(settings.rate_limits), chans)))
        sink.on_failover = engine.reopen
        n = settings.workers if workers is None else workers
        pool = LocalPool(engine, n) if n > 0 else None
        if pool is None:
            from ..distributed import enqueue_to_rq
            engine.submit = enqueue_to_rq(store)
            reaper = asyncio.ensure_future(_reap_forever(engine))
        app[ctx.REDIS], app[ctx.ENGINE], app[ctx.POOL], app[ctx.RECEIPTS] = redis, engine, pool, sink
        app[ctx.KEYS] = KeyStore(redis, settings.admin_key)
        app[ctx.PRIVATE] = PrivateDelivery(engine)
        await audit.approval_rule(redis, settings.approval_severities)
        app[ctx.HUB] = inbox.StreamHub(redis)
        await app[ctx.HUB].start()
        if pool:
            await pool.start()
        yield
        await app[ctx.HUB].stop()
        await app[ctx.PRIVATE].close()
        if pool:
            await pool.stop()
        else:
            reaper.cancel()
        for ch in chans.values():
            await ch.close()
        await sink.close()
        await redis.aclose()

    app.cleanup_ctx.append(resources)
    app.cleanup_ctx.append(follow_ctx)
    issuer.setup(app)
    subscriber_api.setup(app)
    inbox.setup(app)
    ops.setup(app)
    cap_feed.setup(app)
    validate_api.setup(app)
    callbacks.setup(app)
    keys_api.setup(app)
    audit_api.setup(app)
    shelters_api.setup(app)
    households_api.setup(app)
    sensors_api.setup(app)
    web_views.setup(app)
    web_vendor.setup(app)
    console_signin.setup(app)
    console_audit.setup(app)
    console_live.setup(app)
    console_drill.setup(app)
    console_watch.setup(app)
    console_drafts_api.setup(app)
    console_rules.setup(app)
    console_compose.setup(app)
    console_review.setup(app)
    return app
