import numpy as np
import pytest

from dispatcher import keys
from dispatcher.delivery import State, Transitions, count, percentiles, states
from dispatcher.stats import alert_stats


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


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.0])
async def test_latency_percentiles_are_within_five_percent_in_milliseconds(redis_aio, sigma):
    """A spread of latencies (1 ms to minutes) read back through the alert's stats as a user sees them."""
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=np.log(800), sigma=sigma, size=4000)
    pipe = redis_aio.pipeline(transaction=False)
    for ms in values:
        count(pipe, 5, "fcm", State.SENT, 1, float(ms))
    await pipe.execute()
    got = (await alert_stats(redis_aio, 5))["latency_ms"]
    for name in ("sent", "fcm:sent"):
        for q in (50, 95, 99):
            exact = float(np.percentile(values, q, method="inverted_cdf"))
            assert abs(got[name][f"p{q}"] - exact) <= 0.05 * exact, (name, q, got[name], exact)


@pytest.mark.parametrize("ms", [0.0, 0.004, 0.9, 1.0, 63.9, 64.0, 999.5, 12_345.6, 299_999.0, 3_600_000.0])
def test_every_latency_falls_in_a_bucket_at_most_one_32nd_of_its_value_wide(ms):
    from dispatcher import latency
    lower = latency.bucket_us(ms)
    us = int(ms * 1000)
    assert lower <= us < lower + latency.width_us(lower)
    assert latency.width_us(lower) <= max(1, lower / 32)
    assert abs(latency.midpoint_ms(lower) - ms) <= max(0.001, ms / 60)


def test_percentiles_of_an_empty_histogram_are_none():
    assert percentiles({"inapp:sent:1000": 3}, "sms", State.SENT) == {"p50": None, "p95": None, "p99": None}


@pytest.mark.parametrize("seed", range(6))
async def test_bulk_transition_matches_a_model_on_random_shards(redis_aio, seed):
    """Random states (the string shorter than the shard at times), random sorted offsets: exactly the
    allowed ones move, their channel byte is set, every other byte is left as it was."""
    rng = np.random.default_rng(seed)
    size = 4096
    length = int(rng.integers(1, size))
    before = rng.integers(0, 13, length, dtype=np.uint8)
    chan_before = rng.integers(0, 8, length, dtype=np.uint8)
    await redis_aio.set(keys.delivery_state(1, 2), before.tobytes())
    await redis_aio.set(keys.delivery_channel(1, 2), chan_before.tobytes())
    offs = np.sort(rng.choice(size, int(rng.integers(1, 600)), replace=False))
    moved = await Transitions(redis_aio).apply(redis_aio, 1, 2, State.SENT, offs, channel_id=5,
                                               allowed=(State.SENDING, State.TARGETED))
    padded = np.zeros(size, dtype=np.uint8)
    padded[:length] = before
    expect_moved = [o for o in offs if padded[o] in (State.SENDING, State.TARGETED)]
    assert list(moved) == expect_moved
    after = states(await redis_aio.get(keys.delivery_state(1, 2)), size)
    chans = states(await redis_aio.get(keys.delivery_channel(1, 2)), size)
    want, want_ch = padded.copy(), np.zeros(size, dtype=np.uint8)
    want_ch[:length] = chan_before
    want[expect_moved] = State.SENT
    want_ch[expect_moved] = 5
    assert np.array_equal(after, want) and np.array_equal(chans, want_ch)
