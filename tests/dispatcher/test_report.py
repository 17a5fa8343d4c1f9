"""The demo's reach summary: reached = delivered or accepted on the last channel tried; everyone who
failed on every channel is named with the channels tried."""
from __future__ import annotations

import numpy as np

from dispatcher import keys
from dispatcher.delivery import State
from dispatcher.report import reach, reach_lines


async def test_reach_counts_final_states_and_names_who_failed_everywhere(redis_aio):
    st = np.zeros(100, dtype=np.uint8)
    st[:5] = [State.SENT, State.DELIVERED, State.FAILED, State.SUPPRESSED, State.FAILOVER]
    await redis_aio.set(keys.SUBSCRIBER_SEQ, 5)
    await redis_aio.set(keys.delivery_state(0, 9), st.tobytes())
    await redis_aio.hset(keys.failed_channels(0, 9), "2", "sms,inapp")
    r = await reach(redis_aio, 9, 100)
    assert (r.targeted, r.reached, r.pending) == (4, 2, 1)
    assert r.failed == {2: ["sms", "inapp"]}
    text = "\n".join(reach_lines(r))
    assert "reached 2 of 4" in text and "2 (tried sms/inapp)" in text
