"""An alarm goes out on every channel of every member at the same time: each channel's send is
still waiting when the other starts (a chain, one channel after another, could not do that)."""
from __future__ import annotations

import asyncio

from channels.base import ACCEPTED, Channel, Outcome, Result
from channels.inapp import InappChannel
from tests.dispatcher.conftest import open_api
from tests.factories import cap_json

from .helpers import drain, hms_token, inbox_ids

#: How long one channel waits for the others to start before it calls the send sequential (a deadline, not a wait).
DEADLINE_S = 10.0


class Gate(Channel):
    """Answers only once every gate has been asked: a sequential sender would find its gate shut."""

    def __init__(self, name: str, gates: dict[str, asyncio.Event]):
        self.name, self.gates, self.recipients = name, gates, []

    async def send_columns(self, notice, subscriber_ids, endpoints):
        self.gates[self.name].set()
        try:
            await asyncio.wait_for(asyncio.gather(*(g.wait() for g in self.gates.values())), DEADLINE_S)
        except asyncio.TimeoutError:
            return [Result(Outcome.PERMANENT)] * len(subscriber_ids)
        self.recipients += list(subscriber_ids)
        return [ACCEPTED] * len(subscriber_ids)


async def test_every_member_gets_every_channel_at_once(store, redis_sync, settings):
    gates = {"hms": asyncio.Event(), "sms": asyncio.Event()}
    redis = store.aio()
    chans = {"inapp": InappChannel(redis), "hms": Gate("hms", gates), "sms": Gate("sms", gates)}
    try:
        async with open_api(store, settings, channels=chans) as api:
            members = [await api.register(regions=["110105"], channels=["hms", "sms", "inapp"],
                                          endpoints={"hms": hms_token(i), "sms": f"+86139{i:08d}"}) for i in range(2)]
            doc = cap_json(severity="Extreme", urgency="Immediate")
            doc["scope"], doc["addresses"] = "Private", " ".join(str(m["id"]) for m in members)
            status, alert = await api.publish(doc)
            assert status == 202, alert
            await drain(api)
            ids = sorted(m["id"] for m in members)
            assert sorted(chans["hms"].recipients) == ids and sorted(chans["sms"].recipients) == ids
            for m in members:
                assert alert["id"] in await inbox_ids(api, m["token"])
    finally:
        await redis.aclose()
