"""Alerts stored in a batch are stored exactly as one by one: the same record, the same indexes."""
from __future__ import annotations

from dispatcher import cap, keys
from dispatcher.alerts import AlertStore
from dispatcher.alerts_many import accept_many
from tests.factories import body, cap_json

NOW = __import__("time").time()


def _private(identifier: str):
    doc = cap_json(identifier=identifier, severity="Extreme")
    doc["scope"], doc["addresses"] = "Private", "3 4"
    return cap.parse_json(body(doc))


async def test_a_batch_writes_what_accept_writes(redis_aio):
    store = AlertStore(redis_aio)
    one, _ = await store.accept(_private("single"), "sensors", org="sensors", now=NOW)
    (many, created), = await accept_many(store, [_private("batched")], "sensors", [False], org="sensors",
                                         now=NOW)
    assert created
    a = await redis_aio.hgetall(keys.alert(one.id))
    b = await redis_aio.hgetall(keys.alert(many.id))
    differ = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert differ == {b"xml", b"digest"}                      # only the identifier differs
    for key in (keys.ALERT_INDEX, keys.alerts_of("sensors")):
        assert await redis_aio.zscore(key, one.id) == await redis_aio.zscore(key, many.id)
    assert await redis_aio.sismember(keys.FANOUT_PENDING, many.id) == await redis_aio.sismember(keys.FANOUT_PENDING, one.id)
    assert (await AlertStore(redis_aio).get(many.id)).summary()["identifier"] == "batched"


async def test_a_resubmission_in_a_batch_returns_the_stored_alert(redis_aio):
    store = AlertStore(redis_aio)
    alert = _private("again")
    first, = await accept_many(store, [alert], "sensors", [False], org="sensors")
    second, = await accept_many(store, [alert], "sensors", [False], org="sensors")
    assert first[1] is True and second == (second[0], False) and second[0].id == first[0].id


async def test_finishing_many_moves_only_those_still_sending_and_logs_each(redis_aio):
    from dispatcher.alerts import Lifecycle
    from dispatcher.alerts_many import finish_many
    store = AlertStore(redis_aio)
    a, _ = await store.accept(_private("a"), "sensors", org="sensors")
    b, _ = await store.accept(_private("b"), "sensors", org="sensors")
    await store.set_lifecycle(b.id, Lifecycle.CANCELLED)
    assert await finish_many(store, [a.id, b.id]) == [a.id]
    assert await AlertStore(redis_aio).lifecycle(a.id) is Lifecycle.DONE
    assert await AlertStore(redis_aio).lifecycle(b.id) is Lifecycle.CANCELLED
    log = [e for _, e in await redis_aio.xrange(keys.LIFECYCLE_LOG)]
    assert [(e[b"alert"], e[b"lifecycle"]) for e in log][-1] == (str(a.id).encode(), b"done")
