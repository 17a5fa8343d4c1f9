"""Stopping cleanly on SIGTERM (systemd, containers) exactly as on Ctrl-C (SIGINT)."""
from __future__ import annotations

import asyncio
import signal

#: The signals that ask a warncast process to stop.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def until_signalled() -> signal.Signals:
    """Wait for SIGTERM or SIGINT and return it; the caller then shuts down in order. A second signal
    while shutting down is ignored (the shutdown is already bounded in time)."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future = loop.create_future()

    def on_signal(signum: signal.Signals) -> None:
        if not got.done():
            got.set_result(signum)

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await got
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            loop.add_signal_handler(sig, lambda: None)
