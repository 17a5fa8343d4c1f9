"""Timing under load: cancelling an alert mid-way, a red alert overtaking a large blue one."""
from __future__ import annotations

import time

import numpy as np

from dispatcher.delivery import State

from .chaos_crash import _wait_fraction
from .chaos_harness import Outcome, Stage, alert_doc, paced_quotas, wait_until


def _sent_ids(stage: Stage, alert_id: int, *, after: float | None = None, before: float | None = None) -> np.ndarray:
    """Subscriber ids of every send of the alert accepted (simulators) or published (in-app) in (after, before]."""
    obs = stage.observer
    inapp = [s.ids for s in stage.tap.sends
             if s.alert_id == alert_id and (after is None or s.t > after) and (before is None or s.t <= before)]
    parts = [obs.ledger_ids("hms", alert_id, after, before), obs.ledger_ids("sms", alert_id, after, before), *inapp]
    return np.concatenate(parts)


def _first_send(stage: Stage, alert_id: int) -> float | None:
    a = str(alert_id)
    ts = [e.t for sim in (stage.hms, stage.sms) for e in sim.ledger.entries if e.alert_id == a]
    t_inapp = stage.tap.first_t(alert_id)
    ts += [t_inapp] if t_inapp is not None else []
    return min(ts) if ts else None


def _last_send(stage: Stage, alert_id: int) -> float | None:
    a = str(alert_id)
    ts = [e.t for sim in (stage.hms, stage.sms) for e in sim.ledger.entries if e.alert_id == a]
    ts += [s.t for s in stage.tap.sends if s.alert_id == alert_id]
    return max(ts) if ts else None


async def cancel_at_30pct(out: Outcome, n: int, *, pace_s: float = 8.0, at: float = 0.3,
                          timeout_s: float = 180) -> None:
    """POST /api/v1/alerts/{id}/cancel at ~30% accepted. What was claimed (``sending``) when the
    alert's lifecycle flipped to cancelled — read inside the cancel request, before its answer — is
    the only thing that may still be accepted afterwards."""
    quotas = paced_quotas(n, pace_s)
    out.details["quotas_per_s"] = dict(quotas)
    async with Stage(n, settings={"rate_limits": quotas}) as stage:
        engine = stage.engine
        original_amend = engine.lifecycle.amend_referenced
        claimed: dict[int, np.ndarray] = {}

        async def amend(rec, by):
            flipped = await original_amend(rec, by)
            for alert_id, _ in flipped:
                st = await stage.observer.delivery_states(alert_id)
                claimed[alert_id] = np.flatnonzero(st == State.SENDING)
            return flipped
        engine.lifecycle.amend_referenced = amend
        answer, t0, _ = await stage.publish(alert_doc())
        alert_id = answer["id"]
        out.check("reached_cancel_point", await _wait_fraction(stage, alert_id, at, timeout_s))
        status, cancel = await stage.call("POST", f"/api/v1/alerts/{alert_id}/cancel", "issuer", json={})
        t_ret = time.time()
        out.check("cancel_accepted", status == 202)
        if status != 202:
            out.details["cancel_answer"] = cancel
            return
        cancel_id = cancel["id"]
        in_flight = claimed.get(alert_id, np.zeros(0, dtype=np.int64))
        out.check("cancel_finished", await stage.wait_finished(cancel_id, timeout_s))

        async def settled() -> bool:
            return not (await stage.observer.delivery_states(alert_id) == State.SENDING).any()
        out.check("in_flight_settled", await wait_until(settled, 30, 0.1))
        m = await stage.observer.measure(alert_id)
        mc = await stage.observer.measure(cancel_id)
        stage.observer.fill(out, m, mc)
        out.targeted, out.delivered = int(len(m.targeted)), m.delivered(n)     # the row shows the cancelled alert
        before = set(_sent_ids(stage, alert_id, before=t_ret).tolist())
        after = _sent_ids(stage, alert_id, after=t_ret)
        reached = m.reached()
        told = mc.reached()
        out.duplicates_bound = 0
        out.details.update(
            cancelled_after_s=round(t_ret - t0, 2), reached_before_cancel=len(before),
            in_flight_at_cancel=int(len(in_flight)), accepted_after_cancel=int(len(after)),
            accepted_after_cancel_outside_in_flight=int(len(set(after.tolist()) - set(in_flight.tolist()))),
            cancelled=m.final.get("cancelled", 0), reached_total=len(reached), cancel_notice_reached=len(told),
            reached_not_told=len(reached - told), told_not_reached=len(told - reached),
            cancel_lifecycle=await stage.lifecycle(alert_id))
        out.check("cancelled_mid_alert", 0 < len(before) < len(m.targeted))
        out.check("after_cancel_only_in_flight", set(after.tolist()) <= set(in_flight.tolist()))
        out.check("after_cancel_within_bound", len(after) <= len(in_flight))
        # Those reached before the cancel returned are told; nobody the alert did not reach is told.
        # Subscribers whose in-flight send was accepted after the cancel returned are counted in
        # reached_not_told (the Cancel's audience is read when it is planned).
        out.check("everyone_reached_before_told", before <= told)
        out.check("only_the_reached_told", told <= reached)
        out.check("no_duplicates", out.duplicates == 0)


async def red_during_blue(out: Outcome, n: int, *, at: float = 0.1, send_chunk: int | None = None,
                          latency_ms=(0.0, 0.0), timeout_s: float = 300, first_send_s: float | None = 1.0) -> None:
    """A blue (Minor) alert to everyone; at ~``at`` of it accepted, a red (Extreme, Immediate) one.
    The red one must start while the blue one is still going and finish before it (the blue one's
    jobs yield to it), and its first send (a simulator's accept or an in-app publish) must come
    within ``first_send_s`` of its 202 (None: ordering only, as the reduced run in the tests does).
    (CI shrinks batches and adds latency to keep a small blue alert going long enough.)"""
    from loadtest.simulators.base import Faults
    settings = {"send_chunk": send_chunk} if send_chunk else {}
    faults = dict(hms_faults=Faults(latency_ms=latency_ms, seed=12), sms_faults=Faults(latency_ms=latency_ms, seed=13))
    async with Stage(n, settings=settings, **faults) as stage:
        blue, _, _ = await stage.publish(alert_doc(severity="Minor", urgency="Expected", tag="blue"))
        out.check("blue_reached_red_point", await _wait_fraction(stage, blue["id"], at, timeout_s))
        blue_at_red = stage.accepted_total(blue["id"])
        red, t_post, t_202 = await stage.publish(alert_doc(severity="Extreme", urgency="Immediate", tag="red"))
        out.check("red_finished", await stage.wait_finished(red["id"], timeout_s))
        out.check("blue_finished", await stage.wait_finished(blue["id"], timeout_s))
        mb = await stage.observer.measure(blue["id"])
        mr = await stage.observer.measure(red["id"])
        stage.observer.fill(out, mb, mr)
        out.duplicates_bound = 0
        first_red, last_blue = _first_send(stage, red["id"]), _last_send(stage, blue["id"])
        red_last = _last_send(stage, red["id"])
        out.details.update(
            blue_accepted_when_red_published=blue_at_red, lanes={"blue": blue["lane"], "red": red["lane"]},
            red_first_send_after_202_ms=None if first_red is None else round((first_red - t_202) * 1000, 1),
            red_first_send_after_post_ms=None if first_red is None else round((first_red - t_post) * 1000, 1),
            red_all_sent_after_202_s=None if red_last is None else round(red_last - t_202, 2),
            blue_last_send_after_red_first_s=None if None in (first_red, last_blue) else round(last_blue - first_red, 2))
        if first_send_s is not None:
            out.check(f"red_first_send_within_{first_send_s * 1000:.0f}ms",
                      first_red is not None and first_red - t_202 <= first_send_s)
        out.check("blue_still_going", first_red is not None and last_blue is not None and first_red < last_blue)
        out.check("red_finished_before_blue", red_last is not None and last_blue is not None and red_last < last_blue)
        out.check("all_delivered", out.delivered == out.targeted > 0)
        out.check("no_duplicates", out.duplicates == 0)
