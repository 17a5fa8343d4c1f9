"""Provider faults: transient errors, stalled answers, unregistered tokens, a provider down.

Each scenario takes the ``Outcome`` it fills in as it goes (so a timeout still shows
what was seen) and the number of subscribers; keyword arguments shrink it for CI.
"""
from __future__ import annotations

import asyncio
import time

import numpy as np

from dispatcher.circuit import Circuits
from loadtest.simulators.base import Faults
from subscribers.store import SubscriberStore

from .chaos_harness import Outcome, Stage, alert_doc, wait_until
from .chaos_observe import collapse_keys_of_duplicates


def transient_faults(seed: int, stall_rate: float = 0.0, stall_s: float = 3.0) -> Faults:
    """20% of requests fail transiently: 5% dropped before acceptance, then 429 (Retry-After),
    500 and 503 in equal parts of the rest (15% of all requests)."""
    each = 0.15 / 0.95 / 3
    return Faults(error_rates={"429": each, "500": each, "503": each}, drop_rate=0.05, retry_after_s=1.0,
                  accept_then_stall_rate=stall_rate, stall_s=stall_s, seed=seed)


async def _one_alert(stage: Stage, out: Outcome, timeout_s: float, **doc) -> int:
    answer, _, _ = await stage.publish(alert_doc(**doc))
    alert_id = answer["id"]
    out.details["alert_id"] = alert_id
    out.check("finished_in_time", await stage.wait_finished(alert_id, timeout_s))
    return alert_id


async def transient_20pct(out: Outcome, n: int, *, send_chunk: int = 250, timeout_s: float = 180) -> None:
    """Batches of ``send_chunk`` so that 20% of requests is many requests on both providers."""
    async with Stage(n, hms_faults=transient_faults(1), sms_faults=transient_faults(2),
                     settings={"send_chunk": send_chunk}) as stage:
        alert_id = await _one_alert(stage, out, timeout_s)
        m = await stage.observer.measure(alert_id)
        stage.observer.fill(out, m)
        out.duplicates_bound = 0
        await _faults_seen(stage, out, send_chunk)
        out.check("all_delivered", out.delivered == out.targeted > 0)
        out.check("no_duplicates", out.duplicates == 0)


async def _faults_seen(stage: Stage, out: Outcome, send_chunk: int) -> None:
    out.details["batch"] = send_chunk
    snap = await Circuits(stage.redis).snapshot()
    out.details["circuits_opened"] = {ch: snap.get(ch, {}).get("opened", 0) for ch in ("hms", "sms")}
    out.details["injected"] = {"hms": dict(stage.hms.faults.injected), "sms": dict(stage.sms.faults.injected)}
    out.details["requests_answered"] = {"hms": stage.hms.requests, "sms": stage.sms.requests}
    out.check("faults_happened", all(sum(s.faults.injected.values()) > 0 for s in (stage.hms, stage.sms)))


async def transient_plus_stalls(out: Outcome, n: int, *, stall_rate: float = 0.01, send_chunk: int = 100,
                                timeout_s: float = 240) -> None:
    """As transient_20pct, plus ``stall_rate`` of answers held 3 s after the messages were accepted,
    with the adapters' timeouts at 1 s. Batches of ``send_chunk`` so 1% of answers is many answers."""
    env = {"WARNCAST_HMS_REQUEST_TIMEOUT_S": "1", "WARNCAST_SMS_TIMEOUT_S": "1"}
    async with Stage(n, hms_faults=transient_faults(3, stall_rate), sms_faults=transient_faults(4, stall_rate),
                     env=env, settings={"send_chunk": send_chunk}) as stage:
        alert_id = await _one_alert(stage, out, timeout_s)
        m = await stage.observer.measure(alert_id)
        stage.observer.fill(out, m)
        stalled = {ch: [s for s in sim.faults.stalled if s[0] == str(alert_id)]
                   for ch, sim in (("hms", stage.hms), ("sms", stage.sms))}
        stalled_ids = np.concatenate([stage.observer.ids_of(ch, [r for _, r, _ in v]) for ch, v in stalled.items()])
        out.duplicates_bound = int(len(stalled_ids))
        counts = m.reach_counts(n)
        duplicated = set(np.flatnonzero(counts > 1).tolist())
        out.details["stalled"] = {ch: {"requests": sim.faults.stalled_requests, "messages": len(stalled[ch])}
                                  for ch, sim in (("hms", stage.hms), ("sms", stage.sms))}
        await _faults_seen(stage, out, send_chunk)
        out.details["hms_duplicates_collapse"] = collapse_keys_of_duplicates(stage.hms.ledger, alert_id)
        out.details["sms_duplicates_collapse"] = "the SMS gateway protocol carries no collapse key"
        out.details["duplicated_subscribers"] = len(duplicated)
        out.check("all_delivered", out.delivered == out.targeted > 0)
        out.check("stalls_happened", out.duplicates_bound > 0)
        out.check("duplicates_within_stalled", out.duplicates <= out.duplicates_bound)
        out.check("only_stalled_duplicated", duplicated <= set(stalled_ids.tolist()))
        c = out.details["hms_duplicates_collapse"]
        out.check("hms_duplicates_share_collapse_key", c["same_collapse_key"] == c["recipients_duplicated"])


async def unregistered_5pct(out: Outcome, n: int, *, timeout_s: float = 180) -> None:
    async with Stage(n, hms_faults=Faults(unregistered_fraction=0.05, seed=5)) as stage:
        alert_id = await _one_alert(stage, out, timeout_s)
        m = await stage.observer.measure(alert_id)
        stage.observer.fill(out, m)
        out.duplicates_bound = 0
        targeted = set(m.targeted.tolist())
        gone = [s.id for s in stage.subs if "hms" in s.endpoints and s.id in targeted
                and stage.hms.faults.unregistered(s.endpoints["hms"])]
        by_sms = set(np.unique(m.per_channel["sms"]).tolist())
        store = SubscriberStore(stage.redis, stage.settings.shard_size)
        still = 0
        for k in range(0, len(gone), 500):
            subs = await asyncio.gather(*(store.get(sid) for sid in gone[k:k + 500]))
            still += sum(1 for s in subs if "hms" in s.endpoints or "hms" in s.channels)
        out.details.update(unregistered=len(gone), reached_by_sms=len(set(gone) & by_sms), still_hold_hms=still,
                           gone_reason=m.reasons.get("reason:hms:unregistered", 0))
        out.check("all_delivered", out.delivered == out.targeted > 0)
        out.check("no_duplicates", out.duplicates == 0)
        out.check("unregistered_reached_by_sms", len(gone) > 0 and set(gone) <= by_sms)
        out.check("tokens_pruned", still == 0)


async def provider_down_10s(out: Outcome, n: int, *, down_s: float = 10.0, send_chunk: int | None = None,
                            timeout_s: float = 180) -> None:
    """HMS down for ``down_s`` from the first alert's publish; a second alert once it is back (and
    the circuit's open period has passed, so the next send is its half-open probe). Batches in
    flight when the circuit opens retry in place (Retry-After 1 s, 4 attempts); the rest fail over
    at once. (CI uses small batches so that there is a rest.) The second alert's batches that ask
    while the probe is out wait for its answer, so its HMS subscribers mostly stay on HMS."""
    settings = {"send_chunk": send_chunk} if send_chunk else {}
    async with Stage(n, hms_faults=Faults(down=True, retry_after_s=1.0, seed=6), settings=settings) as stage:
        circuits = Circuits(stage.redis)
        first, t0, _ = await stage.publish(alert_doc())
        up_at = t0 + down_s

        async def bring_back() -> None:
            await asyncio.sleep(max(0.0, up_at - time.time()))
            stage.hms.faults.down = False
        back = asyncio.ensure_future(bring_back())
        stage.later(lambda: _cancel(back))
        out.check("first_finished", await stage.wait_finished(first["id"], timeout_s))
        during = (await circuits.snapshot()).get("hms", {})
        out.details["circuit_after_first"] = during
        out.details["first_done_after_s"] = round(time.time() - t0, 2)
        await back

        async def probe_due() -> bool:
            snap = (await circuits.snapshot()).get("hms", {})
            return snap.get("state") != "open" or (snap.get("retry_in_s") or 0) <= 0
        out.check("circuit_probe_due", await wait_until(probe_due, 30, 0.1))
        second, t2, _ = await stage.publish(alert_doc())
        out.details["second_published_after_s"] = round(t2 - t0, 2)
        out.check("second_finished", await stage.wait_finished(second["id"], timeout_s))
        m1 = await stage.observer.measure(first["id"])
        m2 = await stage.observer.measure(second["id"])
        stage.observer.fill(out, m1, m2)
        out.duplicates_bound = 0
        snap = (await circuits.snapshot()).get("hms", {})
        out.details["circuit_end"] = snap
        hms_first = {s.id for s in stage.subs if s.channels[:1] == ["hms"]}
        t1 = set(m1.targeted.tolist()) & hms_first
        t2s = set(m2.targeted.tolist()) & hms_first
        via = {ch: set(np.unique(ids).tolist()) for ch, ids in m1.per_channel.items()}
        via2 = {ch: set(np.unique(ids).tolist()) for ch, ids in m2.per_channel.items()}
        out.details["first_alert_hms_subscribers"] = {"targeted": len(t1), **{ch: len(t1 & v) for ch, v in via.items()}}
        out.details["second_alert_hms_subscribers"] = {"targeted": len(t2s),
                                                       **{ch: len(t2s & v) for ch, v in via2.items()}}
        out.check("circuit_opened", during.get("opened", 0) >= 1)
        out.check("all_delivered", out.delivered == out.targeted > 0)
        out.check("no_duplicates", out.duplicates == 0)
        failed_over = (t1 & (via["sms"] | via["inapp"])) - via["hms"]
        out.details["first_alert_failed_over"] = len(failed_over)
        out.check("first_failed_over", len(failed_over) > 0)
        out.check("hms_used_again", len(t2s & via2["hms"]) > 0)
        # Batches that asked while the half-open probe was out waited for its answer instead of
        # failing over: the second alert's HMS subscribers mostly stay on HMS.
        share = len(t2s & via2["hms"]) / max(1, len(t2s))
        out.details["second_alert_hms_share"] = round(share, 3)
        out.check("second_alert_mostly_hms", share >= 0.9)
        out.check("circuit_closed_again", snap.get("state") == "closed" and snap.get("closed", 0) >= 1)


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
