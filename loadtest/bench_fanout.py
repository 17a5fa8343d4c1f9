"""Fan-out benchmark: seed N subscribers, publish one alert through the API, measure every stage.

    python -m loadtest.bench_fanout [--subscribers 200000] [--json FILE] [--polygon]
                                    [--workers 2] [--modes embedded,distributed_1,distributed_2]
                                    [--no-usual] [--no-channels] [--no-floor]

Every process is measured on its own: the provider simulators (HMS push, SMS
gateway, FCM, APNs) run in a child process (``loadtest.procs``), the API with
its fan-out is ``warncast serve`` in another, RQ workers are ``warncast
worker`` processes, Redis is an embedded redis-server, fresh (new, in a
temporary directory) for every run; this process only seeds, publishes and
watches. The subscribers have the realistic channel mix
(``subscribers.synth.CHANNEL_MIX``: 70% HMS push, 20% in-app only, 10% SMS).

Measured, for the embedded mode (top-level keys) and for each mode in ``modes``:

* ``resolve_ms``     audience resolution over every shard for the alert (median of 5);
* ``first_send_ms``  from the API's 202 to the first message accepted by a simulator or published in-app;
* ``accepted_s``     from the publish request to the last send accepted (simulator ledgers, in-app stream);
* ``receipts_s``     from the publish request to every SMS delivery report recorded in warncast's counters;
* ``per_s``          notifications per second over ``accepted_s``;
* ``redis_bytes_per_subscriber`` Redis memory (records, columns, endpoints, geo index) / N;
* ``redis_us_per_subscriber`` redis-server's CPU time (INFO cpu, user + system, from the publish to the
  alert's end, receipts included) / N; ``redis_commands`` the five costliest commands by INFO
  commandstats (wall µs inside Redis, overlapping: EXEC includes its commands, EVAL the calls its
  script makes);
* ``cpu_s``          CPU seconds from the publish to the alert's end, per process: the API / fan-out,
  the simulators, the RQ workers, redis-server (per channel too: which side a channel's rate is bound by);
* ``peak_rss_mib``   peak resident memory (VmHWM) of the API / fan-out process, each worker, the
  simulator process and redis-server;
* ``duplicates``     messages beyond the first per (alert, recipient), over every ledger and in-app;
* ``floor_per_s``, ``floor_ratio``  the transport floor (``loadtest.floor``): the same batches,
  pre-built, posted with the same concurrency and no other logic; ratio = per_s / floor_per_s;
* ``usual_per_s``, ``usual_ratio``  one RQ job per notification (``loadtest.usual``) on 5,000
  subscribers, two SimpleWorker processes; ratio = per_s / usual_per_s;
* ``per_channel_per_s`` (also ``channel_per_s``)  a short run per channel, every subscriber on it: HMS, SMS, in-app (batch
  channels) and FCM, APNs (one request per message);
* ``shelter_ms``     the same embedded run as a Shelter warning (the 72 synthetic shelters imported; every
  located subscriber's nearest named in push and SMS) minus the plain run, medians over
  ``--shelter-pairs`` alternated pairs; ``shelter_ratio`` = shelter_ms / the plain accepted_s (target ≤ 0.15);
* ``polygon_resolve_ms`` with --polygon: a polygon over a quarter of Beijing, over located subscribers.

The run fails (exit 1) unless, in every mode, the simulators' ledgers and the
in-app stream hold exactly N accepted messages, none twice.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import statistics
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import aiohttp

from dispatcher import cap, keys, shelter_import
from dispatcher.alerts import AlertStore
from dispatcher.auth import KeyStore
from dispatcher.demo import sample_alert
from dispatcher.settings import Settings
from dispatcher.shelters import ShelterStore
from dispatcher.store import start_embedded
from dispatcher.targeting import resolve_shard, target_for
from subscribers import synth
from subscribers.store import SubscriberStore

from . import procs

MODES = ("embedded", "distributed_1", "distributed_2")
BATCH_CHANNELS = ("hms", "sms", "inapp")
SINGLE_CHANNELS = ("fcm", "apns")
#: The simulators take whatever they are sent (as in `warncast demo`): provider quotas are lifted so the
#: run measures warncast, not a quota. ``--rate-limits ""`` keeps each adapter's own (SMS: 2,000/s).
DEFAULT_RATE_LIMITS = "hms=1000000,sms=1000000,fcm=1000000,apns=1000000"
SHELTERS = Path(__file__).resolve().parents[1] / "dispatcher" / "samples" / "shelters_beijing_synthetic.csv"


# -- seeding -----------------------------------------------------------------------------------
def _endpoints(subs, seed: int) -> None:
    """Endpoints for the channels synth does not fill in (FCM, APNs)."""
    for i, s in enumerate(subs):
        if "fcm" in s.channels:
            s.endpoints["fcm"] = f"fcm{seed:08d}{i:08d}:" + "A" * 140
        if "apns" in s.channels:
            s.endpoints["apns"] = f"{seed:032x}{i:032x}"


async def seed(redis, n: int, shard_size: int, mix=synth.CHANNEL_MIX) -> float:
    """Write n synthetic subscribers; returns Redis bytes per subscriber."""
    before = (await redis.info("memory"))["used_memory"]
    store = SubscriberStore(redis, shard_size)
    step = 32_768
    for i in range(0, n, step):
        subs = synth.generate(min(step, n - i), seed=i, mix=mix)
        _endpoints(subs, i)
        await store.write_many(subs)
    after = (await redis.info("memory"))["used_memory"]
    return (after - before) / n


def shelter_alert(xml: bytes) -> bytes:
    """The same alert telling people to take shelter (CAP responseType Shelter)."""
    alert = cap.parse_xml(xml)
    for info in alert.infos:
        info.response_types = ["Shelter"]
    return cap.to_xml(alert)


async def seed_shelters(redis) -> int:
    parsed = shelter_import.parse(SHELTERS.read_bytes(), "csv")
    await ShelterStore(redis).save_many(parsed.shelters)
    return len(parsed.shelters)


async def measure_resolve(redis, alert_store: AlertStore, alert_id: int, shard_size: int, nshards: int,
                          runs: int = 5) -> tuple[float, int]:
    rec = await alert_store.get(alert_id)
    target = target_for(rec)
    times, total = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        results = await asyncio.gather(*(resolve_shard(redis, s, target, shard_size) for s in range(nshards)))
        times.append((time.perf_counter() - t) * 1000)
        total = sum(len(a) for a, _ in results)
    return statistics.median(times), total


# -- one run of warncast -----------------------------------------------------------------------
@dataclasses.dataclass
class Plan:
    label: str
    n: int
    in_process: int                  #: shard jobs in the API process (0 = RQ workers)
    rq_workers: int = 0
    mix: tuple = synth.CHANNEL_MIX
    channels: tuple[str, ...] = ("hms", "sms")
    floor: bool = False
    resolve: bool = False
    polygon: bool = False
    #: WARNCAST_RATE_LIMITS for the run ("" = each adapter's own quota).
    rate_limits: str = ""
    #: The 72 synthetic shelters imported and the alert sent as a Shelter warning (``shelter_ms``).
    shelters: bool = False


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


async def _wait_http(url: str, proc, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited ({proc.returncode}):\n{_tail(log)}")
            try:
                async with s.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s:\n{_tail(log)}")


def _cpu(pids: dict) -> dict[str, float]:
    """CPU seconds used so far by the API / fan-out process, the simulators and the workers (summed)."""
    return {"api": procs.cpu_s(pids["api"]) or 0.0, "simulators": procs.cpu_s(pids["simulators"]) or 0.0,
            "workers": sum(procs.cpu_s(p) or 0.0 for p in pids["workers"])}


def redis_cpu_s(sync) -> float:
    """CPU seconds redis-server has used (INFO cpu, user + system)."""
    cpu = sync.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def redis_time(sync, cpu_before_s: float) -> tuple[float, dict[str, dict]]:
    """Redis's CPU time (µs, INFO cpu) since ``cpu_before_s``, and the five costliest commands by INFO
    commandstats since the last CONFIG RESETSTAT (their µs are wall time inside Redis and overlap:
    EXEC includes its commands, EVAL the commands its script calls, which are counted again)."""
    stats = sync.info("commandstats")
    top = sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:5]
    commands = {k.removeprefix("cmdstat_"): {"calls": v["calls"], "usec": v["usec"],
                                             "usec_per_call": round(v["usec_per_call"], 2)} for k, v in top}
    return (redis_cpu_s(sync) - cpu_before_s) * 1e6, commands


async def run_once(plan: Plan, sims: procs.SimHost, tmp: Path, settings: Settings, timeout_s: float) -> dict:
    """Fresh Redis, seed, start the API (and workers), publish, measure; everything stopped after."""
    from redis import Redis
    from rq import Worker

    work = tmp / plan.label
    work.mkdir(parents=True)
    store = start_embedded(work / "redis")
    redis = store.aio()
    sync = Redis.from_url(store.url)
    children = []
    try:
        sync.flushall()
        t_seed = time.perf_counter()
        bytes_per_sub = await seed(redis, plan.n, settings.shard_size, plan.mix)
        seed_s = time.perf_counter() - t_seed
        key = await KeyStore(redis).create("bench", "issuer", ["11"])
        await sims.watch(store.url)
        await sims.reset()
        port = procs.free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**procs.base_env(), **sims.env, "REDIS_URL": store.url, "WARNCAST_DATA_DIR": str(work),
               "WARNCAST_CHANNELS": ",".join(plan.channels), "WARNCAST_SMS_TRANSPORT": "http",
               "WARNCAST_SMS_CALLBACK_URL": f"{url}/callbacks/sms", "WARNCAST_SHARD_SIZE": str(settings.shard_size),
               "WARNCAST_RATE_LIMITS": plan.rate_limits}
        api_log = work / "api.log"
        api = procs.spawn([sys.executable, "-m", "dispatcher.cli", "serve", "--port", str(port),
                           "--workers", str(plan.in_process)], env, api_log)
        children.append(api)
        workers = [procs.spawn([sys.executable, "-m", "dispatcher.cli", "worker", "--processes", "1"], env,
                               work / f"worker{i}.log") for i in range(plan.rq_workers)]
        children += workers
        await _wait_http(f"{url}/healthz", api, api_log)
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=sync)) < plan.rq_workers:
            for i, w in enumerate(workers):
                if w.poll() is not None:
                    raise RuntimeError(f"worker exited:\n{_tail(work / f'worker{i}.log')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not register:\n{_tail(work / 'worker0.log')}")
            await asyncio.sleep(0.05)

        xml = sample_alert()
        if plan.shelters:
            await seed_shelters(redis)
            xml = shelter_alert(xml)
        sync.config_resetstat()                 # Redis's own time from here on is the alert's
        redis_cpu_before = redis_cpu_s(sync)
        pids = {"api": api.pid, "simulators": sims.pid, "workers": [w.pid for w in workers]}
        cpu_before = _cpu(pids)
        async with aiohttp.ClientSession() as session:
            t0 = time.time()
            async with session.post(f"{url}/api/v1/alerts", data=xml, headers={
                    "Authorization": f"Bearer {key}", "Content-Type": "application/cap+xml"}) as resp:
                t_202 = time.time()
                body = await resp.json()
                assert resp.status == 202, body
        alert_id = body["id"]
        targeted = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if targeted is None:
                planned, tg = await redis.hmget(keys.alert(alert_id), ["planned", "targeted"])
                if planned:
                    targeted = int(tg or 0)
            st = await sims.stats()
            if targeted is not None and procs.accepted(st) >= targeted:
                break
            if api.poll() is not None:
                raise RuntimeError(f"the API process exited:\n{_tail(api_log)}")
            await asyncio.sleep(0.01)
        first, last = procs.first_last(st)
        # receipts: every SMS the gateway accepted has its delivery report recorded
        receipts_at = None
        sms_accepted = st.get("sms", {}).get("accepted", 0)
        if "sms" in plan.channels and sms_accepted:
            while time.monotonic() < deadline:
                got = await redis.hget(keys.counters(alert_id), "sms:delivered")
                if int(got or 0) >= sms_accepted:
                    receipts_at = time.time()
                    break
                await asyncio.sleep(0.01)
        while time.monotonic() < deadline:                       # lifecycle reaches done
            life = await redis.hget(keys.alert(alert_id), "lifecycle")
            if life and life.decode() != "sending":
                break
            await asyncio.sleep(0.02)
        redis_us, top_commands = redis_time(sync, redis_cpu_before)
        cpu_after = _cpu(pids)
        full = await sims.stats(full=True)
        sent = procs.accepted(full)
        duplicates = sum(v.get("duplicates", 0) for v in full.values())
        other_alerts = sum(c for v in full.values() for a, c in v.get("by_alert", {}).items() if a != str(alert_id))
        accepted_s = (last - t0) if last else float("nan")
        result = {
            "subscribers": plan.n,
            "targeted": targeted,
            "sent": sent,
            "duplicates": duplicates,
            "ledger_ok": targeted == plan.n and sent == plan.n and duplicates == 0 and other_alerts == 0,
            "by_channel": {k: v["accepted"] for k, v in full.items() if v["accepted"]},
            "first_send_ms": round((first - t_202) * 1000, 1) if first else None,
            "done_s_by_channel": {k: round(v["last"] - t0, 3) for k, v in full.items() if v.get("last")},
            "accepted_s": round(accepted_s, 3),
            "receipts_s": round(receipts_at - t0, 3) if receipts_at else None,
            "per_s": round(sent / accepted_s) if last else 0,
            "publish_ms": round((t_202 - t0) * 1000, 1),
            "redis_us_per_subscriber": round(redis_us / max(1, plan.n), 2),
            "redis_commands": top_commands,
            "cpu_s": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_before} | {"redis": round(redis_us / 1e6, 2)},
            "redis_bytes_per_subscriber": round(bytes_per_sub, 1),
            "seed_s": round(seed_s, 1),
            "peak_rss_mib": {
                "api": procs.mib(procs.peak_rss(api.pid)),
                "workers": [procs.mib(procs.peak_rss(w.pid)) for w in workers],
                "simulators": procs.mib(procs.peak_rss(sims.pid)),
                "redis": procs.mib(procs.peak_rss(getattr(store.embedded, "pid", None))),
            },
        }
        if plan.resolve:
            nshards = (plan.n + settings.shard_size - 1) // settings.shard_size
            resolve_ms, _ = await measure_resolve(redis, AlertStore(redis), alert_id, settings.shard_size, nshards)
            result["resolve_ms"] = round(resolve_ms, 1)
        if plan.floor:
            result.update(await run_floor(plan, sims, store.url, alert_id, env, work, settings))
        if plan.polygon:
            from loadtest.bench_geo import run as geo_run
            geo = await geo_run(plan.n, store.url)
            result["polygon_resolve_ms"] = geo["polygon_resolve_ms"]
            result["geo_index_bytes_per_subscriber"] = geo.get("geo_index_bytes_per_subscriber")
        return result
    finally:
        procs.stop(children)
        await redis.aclose()
        sync.close()
        store.close()


async def run_floor(plan: Plan, sims: procs.SimHost, redis_url: str, alert_id: int, env: dict, work: Path,
                    settings: Settings) -> dict:
    """The transport floor against the same simulators (the API stays up, idle, taking SMS reports)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:                  # the run's delivery reports have all gone out
        st = await sims.stats()
        if not st.get("sms", {}).get("reports_pending"):
            break
        await asyncio.sleep(0.05)
    await sims.reset()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.floor", "--redis", redis_url, "--alert", str(alert_id),
        "--workers", str(max(1, plan.in_process)), "--shard-size", str(settings.shard_size),
        "--send-chunk", str(settings.send_chunk),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=open(work / "floor.log", "ab"))
    out, _ = await proc.communicate()
    if proc.returncode != 0 or not out:
        raise RuntimeError(f"the floor failed ({proc.returncode}):\n{_tail(work / 'floor.log')}")
    floor = json.loads(out.decode().strip().splitlines()[-1])
    full = await sims.stats(full=True)
    _, last = procs.first_last(full)
    sent = procs.accepted(full)
    floor_s = (last or floor["end"]) - floor["start"]
    return {"floor_s": round(floor_s, 3), "floor_per_s": round(sent / floor_s),
            "floor_sent": sent, "floor_duplicates": sum(v.get("duplicates", 0) for v in full.values()),
            "floor_requests": floor["requests"]}


# -- the whole benchmark -----------------------------------------------------------------------
async def run_shelter_pairs(n: int, workers: int, rate_limits: str, sims: procs.SimHost, tmp: Path,
                            settings: Settings, timeout_s: float, pairs: int, plain_s: float | None, log) -> dict:
    """``shelter_ms``: the same embedded run as a Shelter warning (every located subscriber's nearest of the
    72 synthetic shelters named in push and SMS) minus the plain run, medians over ``pairs`` alternated
    pairs (the first plain run is the embedded mode's)."""
    plain = [plain_s] if plain_s else []
    guided, ok = [], True
    for i in range(pairs):
        if i:
            log(f"[plain {i + 1}] {n:,} subscribers, the same alert without shelters …", file=sys.stderr)
            r = await run_once(Plan(f"plain_{i}", n, workers, rate_limits=rate_limits), sims, tmp, settings, timeout_s)
            plain.append(r["accepted_s"])
            ok &= r["ledger_ok"]
        log(f"[shelter {i + 1}] {n:,} subscribers, a Shelter warning with 72 shelters …", file=sys.stderr)
        r = await run_once(Plan(f"shelter_{i}", n, workers, rate_limits=rate_limits, shelters=True), sims, tmp,
                           settings, timeout_s)
        guided.append(r["accepted_s"])
        ok &= r["ledger_ok"]
        log(f"[shelter {i + 1}] accepted in {r['accepted_s']} s (plain {plain[-1]} s); last accepted by channel "
            f"{r['done_s_by_channel']}", file=sys.stderr)
    base, with_shelters = statistics.median(plain), statistics.median(guided)
    shelter_ms = (with_shelters - base) * 1000
    return {"shelter_ms": round(shelter_ms, 1), "shelter_ratio": round(shelter_ms / 1000 / base, 3),
            "shelter_accepted_s": round(with_shelters, 3), "plain_accepted_s": round(base, 3),
            "shelter_runs_s": guided, "plain_runs_s": plain, "shelter_ledger_ok": ok}


async def run(n: int, polygon: bool = False, workers: int = 2, *, modes: Sequence[str] = MODES,
              usual: bool = True, channels: bool = True, floor: bool = True, usual_n: int = 5_000,
              channel_n: int = 50_000, single_n: int = 5_000, timeout_s: float = 300.0,
              rate_limits: str = DEFAULT_RATE_LIMITS, shelter_pairs: int = 1, log=print) -> dict:
    settings = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="warncast-bench-"))
    sims = procs.SimHost(tmp / "simulators.log")
    results: dict = {}
    try:
        runs: dict[str, dict] = {}
        for mode in modes:
            if mode == "embedded":
                plan = Plan(mode, n, workers, floor=floor, resolve=True, polygon=polygon, rate_limits=rate_limits)
            elif mode.startswith("distributed_"):
                plan = Plan(mode, n, 0, rq_workers=int(mode.split("_")[1]), rate_limits=rate_limits)
            else:
                raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
            log(f"[{mode}] seeding {n:,} subscribers, publishing, measuring …", file=sys.stderr)
            runs[mode] = await run_once(plan, sims, tmp, settings, timeout_s)
            r = runs[mode]
            log(f"[{mode}] accepted in {r['accepted_s']} s ({r['per_s']:,}/s), ledger ok: {r['ledger_ok']} "
                f"(targeted {r['targeted']}, sent {r['by_channel']}, duplicates {r['duplicates']}; last accepted "
                f"by channel {r['done_s_by_channel']})",
                file=sys.stderr)
        top = runs.get("embedded") or next(iter(runs.values()))
        shelter = await run_shelter_pairs(n, workers, rate_limits, sims, tmp, settings, timeout_s, shelter_pairs,
                                          top.get("accepted_s"), log) if shelter_pairs and "embedded" in runs else {}
        keep = ("subscribers", "targeted", "sent", "duplicates", "resolve_ms", "first_send_ms", "accepted_s",
                "receipts_s", "per_s", "floor_per_s", "floor_ratio", "usual_per_s", "usual_ratio",
                "redis_bytes_per_subscriber", "redis_us_per_subscriber", "redis_commands")
        results = {k: top.get(k) for k in keep}
        if "floor_per_s" in top:
            results["floor_ratio"] = round(top["per_s"] / top["floor_per_s"], 3)
        if usual:
            log(f"[usual] one RQ job per notification, {usual_n:,} subscribers …", file=sys.stderr)
            u = await __import__("loadtest.usual", fromlist=["run"]).run(usual_n, sims, tmp)
            results["usual_per_s"] = u["usual_per_s"]
            results["usual_ratio"] = round(top["per_s"] / u["usual_per_s"], 1)
            results["usual"] = u
        if "polygon_resolve_ms" in top:
            results["polygon_resolve_ms"] = top["polygon_resolve_ms"]
            results["geo_index_bytes_per_subscriber"] = top.get("geo_index_bytes_per_subscriber")
        results["mode"] = "embedded" if "embedded" in runs else next(iter(runs))
        results["peak_rss_mib"] = top["peak_rss_mib"]
        results["cpu_s"] = top["cpu_s"]
        results["by_channel"] = top["by_channel"]
        results["rate_limits"] = rate_limits or "adapter defaults"
        results["done_s_by_channel"] = top["done_s_by_channel"]
        for k in ("publish_ms", "seed_s", "floor_s", "floor_sent", "floor_duplicates", "floor_requests"):
            if k in top:
                results[k] = top[k]
        results["modes"] = {m: {k: r.get(k) for k in ("accepted_s", "per_s", "first_send_ms", "receipts_s",
                                                      "sent", "duplicates", "ledger_ok", "peak_rss_mib")}
                            for m, r in runs.items()}
        if channels:
            per: dict[str, float] = {}
            detail: dict[str, dict] = {}
            for ch in BATCH_CHANNELS + SINGLE_CHANNELS:
                m = min(n, channel_n) if ch in BATCH_CHANNELS else min(n, single_n)
                log(f"[channel {ch}] {m:,} subscribers on {ch} only …", file=sys.stderr)
                plan = Plan(f"channel_{ch}", m, workers, mix=((1.0, [ch]),),
                            channels=tuple(c for c in (ch,) if c != "inapp"), rate_limits=rate_limits)
                r = await run_once(plan, sims, tmp, settings, timeout_s)
                per[ch] = r["per_s"]
                detail[ch] = {"subscribers": m, "accepted_s": r["accepted_s"], "sent": r["sent"],
                              "duplicates": r["duplicates"], "ledger_ok": r["ledger_ok"], "cpu_s": r["cpu_s"]}
            results["channel_per_s"] = per
            results["per_channel_per_s"] = per
            results["channels"] = detail
        results.update(shelter)
        results["workers"] = workers
        results["ok"] = (all(r["ledger_ok"] for r in runs.values()) and shelter.get("shelter_ledger_ok", True)
                         and all(d["ledger_ok"] for d in results.get("channels", {}).values()))
        return results
    finally:
        await sims.close()
        shutil.rmtree(tmp, ignore_errors=True)


# -- output ------------------------------------------------------------------------------------
def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v) or "—"
    return "—" if v is None else str(v)


def table(result: dict, argv: Sequence[str]) -> str:
    lines = [f"$ python -m loadtest.bench_fanout {' '.join(argv)}".rstrip(), ""]
    scalars = [(k, v) for k, v in result.items() if not isinstance(v, dict) and k not in ("ok",)]
    width = max(len(k) for k, _ in scalars)
    lines += [f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {k.ljust(width)} | {_fmt(v)} |" for k, v in scalars]
    done = result.get("done_s_by_channel") or {}
    if done:
        lines.append(f"| {'last accepted, s after publish'.ljust(width)} | "
                     + ", ".join(f"{k} {_fmt(v)}" for k, v in done.items()) + " |")
    rss = result.get("peak_rss_mib") or {}
    if rss:
        lines += ["", "| peak RSS (MiB, embedded run) | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in rss.items()]
    modes = result.get("modes") or {}
    if modes:
        lines += ["", "| mode | accepted_s | per_s | first_send_ms | receipts_s | sent | dups | ledger ok "
                      "| API RSS MiB | worker RSS MiB | redis RSS MiB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m, r in modes.items():
            p = r["peak_rss_mib"]
            lines.append(f"| {m} | {_fmt(r['accepted_s'])} | {_fmt(r['per_s'])} | {_fmt(r['first_send_ms'])} "
                         f"| {_fmt(r['receipts_s'])} | {_fmt(r['sent'])} | {_fmt(r['duplicates'])} "
                         f"| {r['ledger_ok']} | {_fmt(p['api'])} | {_fmt(p['workers'])} | {_fmt(p['redis'])} |")
    per = result.get("channel_per_s") or {}
    if per:
        lines += ["", "| channel (all subscribers on it) | subscribers | accepted_s | notifications/s | ledger ok "
                      "| CPU s: fan-out / simulators / redis |", "|---|---|---|---|---|---|"]
        for ch, v in per.items():
            d = result["channels"][ch]
            cpu = d.get("cpu_s") or {}
            lines.append(f"| {ch} | {_fmt(d['subscribers'])} | {_fmt(d['accepted_s'])} | {_fmt(v)} "
                         f"| {d['ledger_ok']} | {_fmt(cpu.get('api'))} / {_fmt(cpu.get('simulators'))} "
                         f"/ {_fmt(cpu.get('redis'))} |")
    return "\n".join(lines)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A SIGTERM unwinds like Ctrl-C, so the processes started (each in a session of its own) are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=200_000)
    p.add_argument("--workers", type=int, default=4, help="in-process shard jobs at once (embedded mode; the product default, WARNCAST_WORKERS)")
    p.add_argument("--polygon", action="store_true", help="also resolve a polygon over a quarter of Beijing")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--no-floor", action="store_true", help="skip the transport floor")
    p.add_argument("--no-usual", action="store_true", help="skip the one-job-per-notification baseline")
    p.add_argument("--no-channels", action="store_true", help="skip the per-channel runs")
    p.add_argument("--usual-subscribers", type=int, default=5_000)
    p.add_argument("--channel-subscribers", type=int, default=50_000, help="per batch channel (hms, sms, inapp)")
    p.add_argument("--single-subscribers", type=int, default=5_000, help="per one-request channel (fcm, apns)")
    p.add_argument("--rate-limits", default=DEFAULT_RATE_LIMITS,
                   help='provider quotas for the run (WARNCAST_RATE_LIMITS); "" = the adapters\' own')
    p.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take to deliver")
    p.add_argument("--shelter-pairs", type=int, default=1,
                   help="(plain, Shelter warning) run pairs for shelter_ms; 0 skips it")
    args = p.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    result = asyncio.run(run(args.subscribers, args.polygon, args.workers,
                             modes=[m.strip() for m in args.modes.split(",") if m.strip()],
                             usual=not args.no_usual, channels=not args.no_channels, floor=not args.no_floor,
                             usual_n=args.usual_subscribers, channel_n=args.channel_subscribers,
                             single_n=args.single_subscribers, timeout_s=args.timeout,
                             rate_limits=args.rate_limits, shelter_pairs=args.shelter_pairs))
    print(table(result, argv))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
