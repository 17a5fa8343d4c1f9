"""Run the API in this process (for `warncast serve`, the demo, tests and benchmarks)."""
from __future__ import annotations

from aiohttp import web

from .api.app import make_app
from .settings import Settings
from .store import Store

#: How long open requests (event streams included) get to finish when the server stops (s); the
#: fan-out pool then gets its own grace, and the whole stop stays within 10 s.
SHUTDOWN_TIMEOUT_S = 2.0


async def start_server(settings: Settings, store: Store, *, port: int | None = None, workers: int | None = None,
                       channels=None) -> tuple[web.AppRunner, str, web.Application]:
    """Start the API; returns (runner, base URL, app). ``port=0`` picks a free port."""
    app = make_app(settings, store, workers=workers, channels=channels)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port if port is None else port, reuse_address=True)
    await site.start()
    sock = site._server.sockets[0]
    host, real_port = sock.getsockname()[:2]
    return runner, f"http://{host}:{real_port}", app
