"""What `warncast serve` tells an operator at start-up about the channels it will use."""
from __future__ import annotations

import asyncio

import pytest

from dispatcher.settings import Settings
from dispatcher.startup import channels_notice, fallback_count
from subscribers.store import SubscriberStore
from tests.served import clean_env, output, serving

TOKEN = "IQAAAACy0kYhAAB9nL3vL4eQ2xZmW8sYk1Rt0JcPqA9hWv3bN7uE6fDgC2x"


async def seed(redis) -> None:
    subs = SubscriberStore(redis)
    await subs.create({"regions": ["110105"]})                                           # in-app only
    await subs.create({"regions": ["110105"], "endpoints": {"hms": TOKEN}})              # hms, in-app
    await subs.create({"regions": ["110108"], "endpoints": {"sms": "+8613800138000"}})   # sms, in-app
    victim, _ = await subs.create({"regions": ["110108"], "endpoints": {"sms": "+8613800138001"}})
    await subs.delete(victim.id)                                                         # gone: not counted


@pytest.mark.parametrize("enabled, expected", [((), 2), (("hms",), 1), (("hms", "sms"), 0), (("sms",), 1)])
async def test_counts_subscribers_who_chose_a_channel_that_is_off(redis_aio, enabled, expected):
    await seed(redis_aio)
    assert await fallback_count(redis_aio, 32_768, enabled) == expected


@pytest.mark.parametrize("channels, fallback, line", [
    ((), 2, "channels: in-app only; provider channels are off until WARNCAST_CHANNELS names them "
            "(hms,fcm,apns,webpush,sms); 2 subscribers chose a channel that is off and will be reached in-app "
            "instead"),
    ((), 0, "channels: in-app only; provider channels are off until WARNCAST_CHANNELS names them "
            "(hms,fcm,apns,webpush,sms)"),
    (("hms", "sms"), 1, "channels: hms, sms and in-app; 1 subscriber chose a channel that is off and will be "
                        "reached by their next one"),
])
def test_notice_wording(channels, fallback, line):
    assert channels_notice(Settings(channels=channels), fallback) == line


def test_serve_says_so_at_start_up(store, redis_sync):
    async def seeded():
        client = store.aio()
        try:
            await seed(client)
        finally:
            await client.aclose()

    asyncio.run(seeded())
    with serving(clean_env(REDIS_URL=store.url)) as (url, env, proc):
        printed = output(proc)
    assert f"warncast API on {url}" in printed
    assert ("channels: in-app only; provider channels are off until WARNCAST_CHANNELS names them "
            "(hms,fcm,apns,webpush,sms); 2 subscribers chose a channel that is off and will be reached in-app "
            "instead") in printed
