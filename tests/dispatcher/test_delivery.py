import numpy as np
import pytest

from dispatcher import keys
from dispatcher.delivery import State, Transitions, percentiles, states


@pytest.mark.parametrize("start,new,moves", [
    (State.TARGETED, State.SENDING, True),
    (State.SENDING, State.SENDING, False),      # a second claim of the same subscriber fails
    (State.SENT, State.SENDING, False),         # completed sends are never claimed again
    (State.SENDING, State.SENT, True),
    (State.SENT, State.DELIVERED, True),
    (State.DELIVERED, State.FAILED, False),     # a late failure never undoes a delivery
    (State.CONFIRMED, State.READ, False),
    (State.TARGETED, State.CANCELLED, True),
    (State.SENT, State.CANCELLED, False),
    (State.TARGETED, State.EXPIRED, True),
    (State.DELIVERED, State.EXPIRED, False),
])
async def test_transition_only_moves_allowed_states(redis_aio, start, new, moves):
    t = Transitions(redis_aio)
    await redis_aio.setrange(keys.delivery_state(0, 1), 5, bytes([start]))
    moved = await t.apply(redis_aio, 0, 1, new, np.array([5]))
    raw = await redis_aio.get(keys.delivery_state(0, 1))
    assert list(moved) == ([5] if moves else [])
    assert raw[5] == (new if moves else start)


async def test_bulk_transition_writes_runs_and_channel(redis_aio):
    t = Transitions(redis_aio)
    offs = np.array([0, 1, 2, 10, 11, 32767])
    await t.apply(redis_aio, 3, 9, State.TARGETED, offs)
    moved = await t.apply(redis_aio, 3, 9, State.SENDING, np.array([1, 2, 3, 10, 32767]), channel_id=2)
    assert list(moved) == [1, 2, 10, 32767]          # 3 was never targeted
    st = states(await redis_aio.get(keys.delivery_state(3, 9)), 32768)
    assert st[0] == State.TARGETED and st[1] == st[2] == st[10] == st[32767] == State.SENDING
    ch = await redis_aio.get(keys.delivery_channel(3, 9))
    assert ch[1] == 2 and ch[10] == 2 and ch[0] == 0


def test_percentiles_from_buckets():
    hist = {"inapp:sent:10": 50, "inapp:sent:100": 45, "inapp:sent:1000": 5, "sms:sent:-1": 7}
    p = percentiles(hist, "inapp", State.SENT)
    assert p == {"p50": 10.0, "p95": 100.0, "p99": 1000.0}
    assert percentiles(hist, "sms", State.SENT)["p50"] == float("inf")
