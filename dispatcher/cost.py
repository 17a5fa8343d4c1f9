"""What a warning costs: estimated before sending, incurred as it goes out, against monthly budgets.

Costs are counted in *units* and priced on reading: a unit is one message accepted by a provider,
or one SMS segment (``channels.sms_text.segments``: 160 GSM-7 / 70 UCS-2 characters single, 153 / 67
per part of a long one). ``WARNCAST_COSTS`` prices a unit per channel (``sms=0.04,hms=0``); smpp is
priced as sms unless given; in-app and webhooks cost nothing.

Incurred units are counted batch-wise in the send path's record stage (``queue_incurred``: one
HINCRBY each into the alert's cost hash, the all-time totals and its organisation's month, in the
MULTI that records the batch), never per subscriber.

Budgets (``WARNCAST_COST_BUDGETS=org=soft[:hard]``, per calendar month, UTC) are per issuing
organisation. Over the soft limit the issuer is warned in the publish answer and an audit entry is
written for operators. Over the hard limit a non-top-tier alert's SMS batches are not sent: those
subscribers end ``suppressed`` with reason ``budget``. Top-tier alerts (Actual, Extreme, Immediate)
are never held back by cost.
"""
from __future__ import annotations

import time
from typing import Iterable

from channels.sms_text import segments

from . import keys
from .cap import Alert
from .lru import BoundedCache
from .settings import Settings

SMS_CHANNELS = ("sms", "smpp")
FREE_CHANNELS = ("inapp", "webhook")
#: The reason counted for SMS sends a hard budget stopped (``reason:<channel>:budget``).
BUDGET_REASON = "budget"

_SEGMENTS: BoundedCache[str, int] = BoundedCache(4096)


def month_of(now: float) -> str:
    """The budget month of a moment: "YYYYMM" in UTC."""
    return time.strftime("%Y%m", time.gmtime(now))


def unit_cost(settings: Settings, channel: str) -> float:
    prices = dict(settings.costs)
    if channel == "smpp" and "smpp" not in prices:
        return prices.get("sms", 0.0)
    return prices.get(channel, 0.0)


def units_per_message(channel: str, body: str) -> int:
    """Units one accepted message costs: its SMS segments, or 1."""
    if channel not in SMS_CHANNELS:
        return 1
    if body not in _SEGMENTS:
        _SEGMENTS[body] = segments(body)
    return _SEGMENTS[body]


def priced(settings: Settings, units: dict[str, int]) -> dict:
    """Units per channel → {"currency", "total", "by_channel": {channel: {"units", "amount"}}}."""
    by_channel = {ch: {"units": n, "amount": round(n * unit_cost(settings, ch), 4)}
                  for ch, n in sorted(units.items()) if ch not in FREE_CHANNELS}
    return {"currency": settings.cost_currency, "total": round(sum(v["amount"] for v in by_channel.values()), 4),
            "by_channel": by_channel}


def estimated(settings: Settings, estimate: dict) -> dict:
    """The audience estimate (``dispatcher.estimate``) priced: every targeted subscriber's first channel,
    SMS by each language's segments."""
    units = {ch: n for ch, n in estimate.get("by_channel", {}).items() if ch not in SMS_CHANNELS and ch != "none"}
    sms = estimate.get("sms_segments", 0)
    if sms:
        units["sms"] = sms
    return priced(settings, units)


def all_sms(settings: Settings, estimate: dict) -> float:
    """What the same audience would cost if everyone were sent an SMS (at the longest language's segments)."""
    per_message = estimate.get("sms_segments_per_message") or {}
    segs = max(per_message.values()) if per_message else 1
    return round(estimate.get("targeted", 0) * segs * unit_cost(settings, "sms"), 4)


def queue_incurred(pipe, alert_id: int, org: str, channel: str, units: int, now: float) -> None:
    """Count units a batch incurred (in the caller's pipeline): the alert, all alerts, the org's month."""
    if units <= 0 or channel in FREE_CHANNELS:
        return
    pipe.hincrby(keys.cost_units(alert_id), channel, units)
    pipe.hincrby(keys.COST_TOTALS, channel, units)
    if org:
        pipe.hincrby(keys.cost_month(org, month_of(now)), channel, units)


def _decode(raw: dict) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


async def incurred(redis, settings: Settings, alert_id: int) -> dict:
    return priced(settings, _decode(await redis.hgetall(keys.cost_units(alert_id))))


async def totals(redis, settings: Settings) -> dict:
    return priced(settings, _decode(await redis.hgetall(keys.COST_TOTALS)))


async def month_spend(redis, settings: Settings, org: str, now: float) -> float:
    """What an organisation's alerts cost so far this month."""
    return priced(settings, _decode(await redis.hgetall(keys.cost_month(org, month_of(now)))))["total"]


def budget_of(settings: Settings, org: str) -> tuple[float, float | None] | None:
    """(soft, hard or None) for an organisation, or None when it has no budget."""
    for name, soft, hard in settings.cost_budgets:
        if name == org:
            return soft, hard
    return None


def top_tier(alert: Alert) -> bool:
    """Actual, Extreme, Immediate: never held back by cost."""
    return alert.status == "Actual" and alert.severity() == "Extreme" and alert.urgency() == "Immediate"


async def over_hard_budget(redis, settings: Settings, alert: Alert, org: str, now: float) -> bool:
    """Whether SMS for this alert stops: a non-top-tier alert of an org whose month is past its hard limit."""
    budget = budget_of(settings, org)
    if budget is None or budget[1] is None or top_tier(alert):
        return False
    return await month_spend(redis, settings, org, now) >= budget[1]


def soft_warnings(settings: Settings, org: str, spent: float, estimate: float) -> list[str]:
    """Budget warnings for an alert about to cost ``estimate`` on top of ``spent`` this month."""
    budget = budget_of(settings, org)
    if budget is None:
        return []
    soft, hard = budget
    cur = settings.cost_currency
    out = []
    if spent + estimate > soft:
        out.append(f"{org} has spent {spent:.2f} {cur} of its {soft:.2f} {cur} monthly budget; this alert is "
                   f"estimated at {estimate:.2f} {cur}")
    if hard is not None and spent >= hard:
        out.append(f"{org} is past its hard limit of {hard:.2f} {cur}: SMS is not sent for alerts below the top "
                   f"tier (Actual, Extreme, Immediate)")
    return out


def savings_text(cost: dict) -> str:
    """The demo's line: what the warning cost, against sending everyone an SMS."""
    cur, inc, est = cost["currency"], cost["incurred"], cost["estimated"]
    parts = ", ".join(f"{ch} {v['amount']:.2f}" for ch, v in inc["by_channel"].items())
    line = f"cost: {inc['total']:.2f} {cur} incurred ({parts or 'nothing priced'}), {est['total']:.2f} estimated"
    everyone = est.get("all_sms") or 0.0
    if everyone > 0:
        saved = everyone - inc["total"]
        line += (f"; everyone by SMS would have cost {everyone:.2f} {cur}: the channel mix saved "
                 f"{saved:.2f} {cur} ({100 * saved / everyone:.0f}%)")
    return line


def metric_lines(settings: Settings, priced_totals: dict, channels: Iterable[str]) -> list[str]:
    """``warncast_cost_total{channel,currency}`` for /metrics (every priced channel, 0 when nothing yet)."""
    cur = settings.cost_currency
    by = priced_totals["by_channel"]
    names = sorted(set(by) | {c for c in channels if c not in FREE_CHANNELS})
    lines = ["# HELP warncast_cost_total What sent messages cost, by channel (unit costs from WARNCAST_COSTS).",
             "# TYPE warncast_cost_total counter"]
    lines += [f'warncast_cost_total{{channel="{ch}",currency="{cur}"}} {by.get(ch, {}).get("amount", 0.0)}'
              for ch in names]
    return lines
