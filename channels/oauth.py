"""An OAuth2 bearer token from a provider's token endpoint, cached until shortly before it expires.

One fetch at a time per adapter (concurrent senders wait for it), and a token the provider refused
is fetched again at once (``stale``)."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import aiohttp

from .http_errors import TokenEndpointError

#: Fetch a new token this long before the provider says the old one expires (s).
REFRESH_MARGIN_S = 60.0


class BearerCache:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        #: The clock expiry is judged by (a test steps a fake one past it).
        self.clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, session: aiohttp.ClientSession, url: str, form: Callable[[], dict[str, Any]],
                  stale: str | None = None) -> str:
        """The cached token, or a new one posted for with ``form()`` (built only when needed)."""
        async with self._lock:
            if self._token and self._token != stale and self.clock() < self._expires_at:
                return self._token
            async with session.post(url, data=form()) as resp:
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = None
                if resp.status != 200 or not isinstance(answer, dict) or "access_token" not in answer:
                    raise TokenEndpointError(resp.status)
            self._token = str(answer["access_token"])
            self._expires_at = self.clock() + max(0.0, float(answer.get("expires_in", 3600)) - REFRESH_MARGIN_S)
            return self._token
