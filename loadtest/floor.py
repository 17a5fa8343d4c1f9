"""The transport floor: warncast's batches, pre-built, posted with the same concurrency and no other logic.

    python -m loadtest.floor --redis URL --alert ID [--workers 2] [--shard-size 32768]

Reads, before the clock starts, what a fan-out of alert ``ID`` sends: every
targeted subscriber's first channel and language (the shard columns), their
endpoints, and the rendered notice; cuts them into the same batches as
``Engine`` (per shard, per (channel, language), in offset order; HMS 1,000
tokens a request, SMS the gateway batch size, in-app ``send_chunk`` ids a
PUBLISH) and builds the same request bodies as the adapters. Then, timed: the
same number of shards at once as the fan-out's pool, each (channel, language)
group with its adapter's requests in flight, one HTTP session per channel with
the adapter's connection limit, one Redis PUBLISH per in-app batch — and
nothing else: no claims, no state, no counters, no answer parsing beyond the
status code.

Prints one JSON line: ``{"start", "end", "sent": {channel: n}, "requests": {channel: n}, "errors"}``
(times are unix seconds, so they compare with the simulators' ledgers).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass

import aiohttp
import numpy as np

from channels.hms import HmsChannel, HmsSettings
from channels.inapp import InappChannel, pack
from channels.sms import SmsChannel, SmsSettings
from dispatcher import keys
from dispatcher.alerts import AlertStore
from dispatcher.delivery import State, states
from dispatcher.render import Renderer
from dispatcher.settings import Settings
from dispatcher.store import Store
from subscribers import columns as C

HTTP = ("hms", "sms")


@dataclass
class Request:
    channel: str
    n: int
    body: bytes


@dataclass
class Group:
    channel: str
    in_flight: int
    requests: list[Request]


async def prepare(redis, alert_id: int, shard_size: int, send_chunk: int, sms: SmsSettings,
                  hms: HmsSettings, signature: str) -> list[list[Group]]:
    """Per shard, its (channel, language) groups of pre-built requests."""
    rec = await AlertStore(redis).get(alert_id)
    renderer = Renderer(signature)
    hms_channel = HmsChannel(hms)
    ttl_s = int(rec.expires_at - time.time()) if rec.expires_at else 86_400
    seq = int(await redis.get(keys.SUBSCRIBER_SEQ) or 0)
    nshards = (seq + shard_size - 1) // shard_size
    sizes = {"hms": min(HmsChannel.max_batch, send_chunk), "sms": min(sms.batch, send_chunk),
             "inapp": min(InappChannel.max_batch, send_chunk)}
    in_flight = {"hms": HmsChannel.max_in_flight, "sms": SmsChannel.max_in_flight,
                 "inapp": InappChannel.max_in_flight}
    shards: list[list[Group]] = []
    for shard in range(nshards):
        pipe = redis.pipeline(transaction=False)
        pipe.get(keys.delivery_state(shard, alert_id))
        pipe.get(keys.column(shard, C.CHAIN.name))
        pipe.get(keys.column(shard, C.LANGUAGE.name))
        raw_state, raw_chain, raw_lang = await pipe.execute()
        st = states(raw_state, shard_size)
        todo = np.flatnonzero((st != State.NONE) & (st != State.SUPPRESSED))
        first = C.decode(C.CHAIN, raw_chain, shard_size)[todo] & 0xF
        langs = C.decode(C.LANGUAGE, raw_lang, shard_size)[todo]
        groups: list[Group] = []
        for cid in np.unique(first):
            name = C.CHANNEL_NAMES.get(int(cid))
            if name not in sizes:
                raise SystemExit(f"the floor covers hms, sms and in-app; subscribers start on {name!r}")
            for lang in np.unique(langs[first == cid]):
                offs = todo[(first == cid) & (langs == lang)]
                notice = renderer.notice(rec, name, C.LANGUAGES[int(lang)])
                if name != "inapp":
                    raw = await redis.hmget(keys.endpoints(shard, name), offs.tolist())
                    eps = [e.decode() for e in raw]
                reqs = []
                for i in range(0, len(offs), sizes[name]):
                    chunk = offs[i:i + sizes[name]]
                    if name == "inapp":
                        body = pack(alert_id, shard * shard_size + chunk)
                    elif name == "hms":
                        body = json.dumps(hms_channel.build_message(notice, eps[i:i + len(chunk)], ttl_s),
                                          ensure_ascii=False, separators=(",", ":")).encode()
                    else:
                        body = json.dumps({"to": eps[i:i + len(chunk)], "text": notice.body,
                                           "reference": str(alert_id), "callback_url": sms.callback_url},
                                          ensure_ascii=False).encode()
                    reqs.append(Request(name, len(chunk), body))
                groups.append(Group(name, in_flight[name], reqs))
        shards.append(groups)
    return shards


async def hms_token(session: aiohttp.ClientSession, s: HmsSettings) -> str:
    url = s.token_url or f"{s.url}/oauth2/v3/token"
    async with session.post(url, data={"grant_type": "client_credentials", "client_id": s.client_id,
                                       "client_secret": s.client_secret}) as resp:
        return (await resp.json(content_type=None))["access_token"]


async def run(redis_url: str, alert_id: int, workers: int, shard_size: int, send_chunk: int) -> dict:
    settings = Settings.from_env()
    hms, sms = HmsSettings.from_env(), SmsSettings.from_env()
    store = Store(redis_url)
    redis = store.aio()
    sessions = {
        "hms": aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=hms.request_timeout_s),
                                     connector=aiohttp.TCPConnector(limit=HmsChannel.max_in_flight * 2)),
        "sms": aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=sms.timeout_s),
                                     connector=aiohttp.TCPConnector(limit=SmsChannel.max_in_flight * 2)),
    }
    try:
        shards = await prepare(redis, alert_id, shard_size, send_chunk, sms, hms, settings.sms_signature)
        token = await hms_token(sessions["hms"], hms)
        urls = {"hms": f"{hms.url}/v1/{hms.app_id}/messages:send", "sms": f"{sms.url}/v1/sms/batch"}
        headers = {"hms": {"Authorization": f"Bearer {token}", "Content-Type": "application/json;charset=utf-8"},
                   "sms": {"Authorization": f"Bearer {sms.api_key}", "Content-Type": "application/json"}}
        await redis.ping()
        sent = {"hms": 0, "sms": 0, "inapp": 0}
        requests = dict.fromkeys(sent, 0)
        errors = 0

        async def post(req: Request) -> None:
            nonlocal errors
            if req.channel == "inapp":
                await redis.publish(keys.INAPP_CHANNEL, req.body)
                ok = True
            else:
                async with sessions[req.channel].post(urls[req.channel], data=req.body,
                                                      headers=headers[req.channel]) as resp:
                    await resp.read()
                    ok = resp.status == 200
            requests[req.channel] += 1
            if ok:
                sent[req.channel] += req.n
            else:
                errors += 1

        async def group(g: Group) -> None:
            sem = asyncio.Semaphore(g.in_flight)

            async def one(req: Request) -> None:
                async with sem:
                    await post(req)

            await asyncio.gather(*(one(r) for r in g.requests))

        queue: asyncio.Queue = asyncio.Queue()
        for groups in shards:
            queue.put_nowait(groups)

        async def worker() -> None:
            while not queue.empty():
                groups = queue.get_nowait()
                await asyncio.gather(*(group(g) for g in groups))

        start = time.time()
        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
        end = time.time()
        return {"start": start, "end": end, "sent": sent, "requests": requests, "errors": errors}
    finally:
        for s in sessions.values():
            await s.close()
        await redis.aclose()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--redis", required=True)
    p.add_argument("--alert", type=int, required=True)
    p.add_argument("--workers", type=int, default=2, help="shards at once (the fan-out pool's concurrency)")
    p.add_argument("--shard-size", type=int, default=32_768)
    p.add_argument("--send-chunk", type=int, default=4_096)
    args = p.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    out = asyncio.run(run(args.redis, args.alert, args.workers, args.shard_size, args.send_chunk))
    print(json.dumps(out), flush=True)
    return 0 if out["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
