"""A batch's endpoints come back in one script call, in offset order, '' where one was removed."""
from __future__ import annotations

import numpy as np
import pytest

from dispatcher import keys
from dispatcher.send_stages import ENDPOINTS
from dispatcher.lua import Lua


@pytest.mark.parametrize("n", [1, 3, 4000, 4001, 9000])
async def test_endpoints_in_offset_order_with_blanks_for_removed(redis_aio, n):
    key = keys.endpoints(0, "hms")
    offsets = np.arange(0, 2 * n, 2, dtype="<u2")
    present = {int(o): f"token-{o}" for o in offsets if o % 3}
    await redis_aio.delete(key)
    if present:
        await redis_aio.hset(key, mapping=present)
    raw = await Lua(redis_aio, ENDPOINTS)(keys=[key], args=[offsets.tobytes()])
    assert raw.decode().split("\n") == [present.get(int(o), "") for o in offsets]
