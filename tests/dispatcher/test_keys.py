"""The key layout under Redis Cluster's slot hashing: one shard's keys share a slot, so a shard job's
multi-key scripts and MULTI blocks run on one node; one alert's keys share another."""
import inspect

import pytest
from redis.crc import key_slot

from dispatcher import keys

SHARD_KEYS = [keys.records, keys.delivery_state, keys.delivery_channel, keys.shard_lease, keys.shard_queued,
              keys.geo_coords, keys.geo_cell_prefix]
ALERT_KEYS = [keys.alert, keys.counters, keys.latency, keys.alert_shards, keys.retry_rounds]


def _call(fn, n: int) -> str:
    params = list(inspect.signature(fn).parameters)
    args = {"shard": n, "alert_id": 77, "name": "flags", "channel": "hms", "cell": "861f1d48fffffff"}
    return fn(*(args[p] for p in params))


@pytest.mark.parametrize("shard", [0, 1, 30, 31, 3051])
def test_every_key_of_a_shard_hashes_to_the_shard_tag(shard):
    slot = key_slot(keys.shard_tag(shard).encode())
    for fn in SHARD_KEYS + [keys.column, keys.endpoints, keys.geo_cell]:
        assert key_slot(_call(fn, shard).encode()) == slot, fn.__name__


def test_shards_spread_over_the_slots():
    slots = {key_slot(keys.records(s).encode()) for s in range(1000)}
    assert len(slots) > 900


@pytest.mark.parametrize("alert_id", [1, 2, 99_999])
def test_every_key_of_an_alert_hashes_to_the_alert_tag(alert_id):
    slot = key_slot(keys.alert_tag(alert_id).encode())
    for fn in ALERT_KEYS:
        assert key_slot(fn(alert_id).encode()) == slot, fn.__name__


def test_keys_written_by_one_script_share_a_slot():
    assert key_slot(keys.delivery_state(5, 9).encode()) == key_slot(keys.delivery_channel(5, 9).encode())
    assert key_slot(keys.circuit("hms").encode()) == key_slot(keys.CIRCUIT_INDEX.encode())


@pytest.mark.parametrize("draft_id", [1, 77, 99_999])
def test_a_drafts_keys_share_a_slot_so_a_transition_is_one_script(draft_id):
    slots = {key_slot(fn(draft_id).encode()) for fn in (keys.draft, keys.draft_versions, keys.draft_log)}
    assert len(slots) == 1
