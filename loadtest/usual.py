"""The usual approach, for comparison: one RQ job per notification.

Each job renders its message with Jinja2 and posts it to its provider — one
HTTP request per message (HMS push with one token, the SMS gateway with one
number; an in-app message is one Redis PUBLISH). The jobs are enqueued in bulk
and served by RQ's non-forking ``SimpleWorker`` in separate processes. This is
the common shape of a notification system built on a job queue; warncast's
jobs are shards instead.

The baseline is given every advantage that is cheap to give: a keep-alive HTTP
session and a cached OAuth token per worker process, templates compiled once,
the subscriber's endpoint passed in the job (no database read per job).

    python -m loadtest.usual worker --redis URL     # one worker process (the benchmark starts two)
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

QUEUE = "usual-notifications"

# -- the job (worker side) --------------------------------------------------------------------
_state: dict[str, Any] = {}


def _env():
    if "jinja" not in _state:
        import jinja2

        import templates
        _state["jinja"] = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(templates.__file__).parent),
                                             autoescape=False, undefined=jinja2.StrictUndefined)
    return _state["jinja"]


def _session():
    if "http" not in _state:
        import requests       # what such a job usually uses; the fastest blocking client measured here
        _state["http"] = requests.Session()
    return _state["http"]


def _hms_token() -> str:
    if "hms_token" not in _state:
        url = os.environ["WARNCAST_HMS_URL"]
        r = _session().post(f"{url}/oauth2/v3/token", data={
            "grant_type": "client_credentials", "client_id": "100000001", "client_secret": "warncast-dev-secret"})
        _state["hms_token"] = r.json()["access_token"]
    return _state["hms_token"]


def _render(kind: str, lang: str, alert: dict) -> tuple[str, str]:
    template = _env().get_template(f"{kind}/{lang}.j2")
    ctx = alert["context"][lang]
    title = "".join(template.blocks["title"](template.new_context(ctx))).strip()
    body = "".join(template.blocks["body"](template.new_context(ctx))).strip()
    return title, body


def notify(subscriber_id: int, channel: str, endpoint: str, lang: str, alert: dict) -> str:
    """The job: render one message and hand it to its provider."""
    if channel == "inapp":
        if "redis" not in _state:
            import redis
            _state["redis"] = redis.Redis.from_url(os.environ["REDIS_URL"])
        from channels.inapp import pack
        from dispatcher import keys
        _render("inapp", lang, alert)
        _state["redis"].publish(keys.INAPP_CHANNEL, pack(alert["id"], [subscriber_id]))
        return "ok"
    if channel == "hms":
        title, body = _render("push", lang, alert)
        message = {"android": {"urgency": "HIGH", "ttl": "21600s", "collapse_key": f"a{alert['id']}",
                               "notification": {"title": title, "body": body, "importance": "HIGH"}},
                   "data": json.dumps({"alert_id": str(alert["id"]), "identifier": alert["identifier"]}),
                   "token": [endpoint]}
        r = _session().post(f"{os.environ['WARNCAST_HMS_URL']}/v1/100000001/messages:send",
                            data=json.dumps({"validate_only": False, "message": message}, ensure_ascii=False).encode(),
                            headers={"Authorization": f"Bearer {_hms_token()}",
                                     "Content-Type": "application/json;charset=utf-8"})
    else:
        _, body = _render("sms", lang, alert)
        r = _session().post(f"{os.environ['WARNCAST_SMS_URL']}/v1/sms/batch",
                            json={"to": [endpoint], "text": body, "reference": str(alert["id"]), "callback_url": ""},
                            headers={"Authorization": "Bearer warncast-dev-sms-key"})
    r.raise_for_status()
    return "ok"


def work(redis_url: str) -> None:
    from redis import Redis
    from rq import Queue, SimpleWorker
    conn = Redis.from_url(redis_url)
    SimpleWorker([Queue(QUEUE, connection=conn)], connection=conn).work(burst=False, with_scheduler=False,
                                                                         logging_level="WARNING")


# -- the measurement (benchmark side) ---------------------------------------------------------
def alert_context(alert_id: int = 1) -> dict:
    """What the jobs render: the bundled red warning's fields per language."""
    from dispatcher import cap
    from dispatcher.demo import sample_alert
    a = cap.parse_xml(sample_alert())
    ctx = {}
    for lang in ("zh-CN", "en"):
        info = a.info_for(lang)
        ctx[lang] = {"prefix": "", "msg_type": a.msg_type, "status": a.status,
                     "headline": info.headline or info.event, "description": info.description or "",
                     "instruction": info.instruction or "",
                     "area": ("、" if lang == "zh-CN" else ", ").join(x.area_desc for x in info.areas),
                     "sender_name": info.sender_name or a.sender, "sent_local": a.sent.strftime("%Y-%m-%d %H:%M"),
                     "event": info.event, "severity": a.severity()}
    return {"id": alert_id, "identifier": a.identifier, "context": ctx}


async def run(n: int, sims, tmp: Path, timeout_s: float = 300.0, processes: int = 2) -> dict:
    """Enqueue one job per notification for ``n`` subscribers (the usual mix), served by ``processes``
    SimpleWorker processes; returns notifications per second, publish-to-last-accept."""
    from redis import Redis
    from rq import Queue, Worker
    from rq.registry import FailedJobRegistry

    from dispatcher.store import start_embedded
    from subscribers import synth

    from . import procs

    store = start_embedded(tmp / "usual-redis")
    conn = Redis.from_url(store.url)
    workers = []
    try:
        conn.flushall()
        subs = synth.generate(n, seed=0, mix=synth.CHANNEL_MIX)
        alert = alert_context()
        env = {**procs.base_env(), **sims.env, "REDIS_URL": store.url}
        workers = [procs.spawn([sys.executable, "-m", "loadtest.usual", "worker", "--redis", store.url], env,
                               tmp / f"usual-worker{i}.log") for i in range(processes)]
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=conn)) < processes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"usual workers did not start; see {tmp}/usual-worker0.log")
            await asyncio.sleep(0.1)
        await sims.watch(store.url)
        await sims.reset()
        queue = Queue(QUEUE, connection=conn)
        jobs = [Queue.prepare_data(notify, args=(i, s.channels[0], s.endpoints.get(s.channels[0], ""), s.language,
                                                 alert), result_ttl=60, timeout=60)
                for i, s in enumerate(subs)]
        t0 = time.time()
        for k in range(0, len(jobs), 1000):
            queue.enqueue_many(jobs[k:k + 1000])
        enqueued_s = time.time() - t0
        deadline = time.monotonic() + timeout_s
        failed = FailedJobRegistry(queue=queue)
        while True:
            st = await sims.stats()
            if procs.accepted(st) >= n or time.monotonic() > deadline:
                break
            if failed.count:
                raise RuntimeError(f"{failed.count} notification jobs failed; see {tmp}/usual-worker0.log")
            await asyncio.sleep(0.1)
        st = await sims.stats(full=True)
        _, last = procs.first_last(st)
        got = procs.accepted(st)
        elapsed = (last or time.time()) - t0
        return {"usual_subscribers": n, "usual_accepted": got, "usual_enqueue_s": round(enqueued_s, 3),
                "usual_s": round(elapsed, 3), "usual_per_s": round(got / elapsed, 1),
                "usual_duplicates": sum(v.get("duplicates", 0) for v in st.values()),
                "usual_worker_peak_rss_mib": [procs.mib(procs.peak_rss(w.pid)) for w in workers]}
    finally:
        procs.stop(workers)
        conn.close()
        store.close()


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "worker" and sys.argv[2] == "--redis":
        work(sys.argv[3])
    else:
        print("usage: python -m loadtest.usual worker --redis URL", file=sys.stderr)
        sys.exit(2)
