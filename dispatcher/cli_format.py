"""Plain text for people at 80 columns: an alert's summary, its deliveries per channel, alert lists."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

WIDTH = 80
#: Delivery states shown by `warncast status`, one row each, in the order a send goes through them.
STATES = ("targeted", "sent", "delivered", "read", "confirmed", "failover", "failed", "expired", "cancelled",
          "suppressed")
LIFECYCLE_NOTES = {
    "held": "waiting for an operator's approval (`warncast alerts approve ID` or `reject ID --reason`)",
    "rejected": "rejected by an operator; never sent",
    "stored": "stored only; System and Draft alerts are never sent",
}


def columns(text: str) -> int:
    """Terminal columns the text takes: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def clip(text: str, width: int) -> str:
    """The text cut to ``width`` terminal columns, with an ellipsis when something was cut."""
    if columns(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        w = columns(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


def alert_line(body: dict) -> str:
    """'alert 3 · Alert · Actual · Extreme · sending' and the headline under it."""
    head = " · ".join(str(x) for x in (f"alert {body.get('id')}", body.get("msgType"), body.get("status"),
                                       body.get("severity"), body.get("lifecycle")) if x)
    lines = [head]
    if body.get("headline"):
        lines.append("  " + clip(body["headline"], WIDTH - 2))
    if body.get("rejection"):
        r = body["rejection"]
        lines.append(clip(f"  rejected by {r.get('by')}: {r.get('reason')}", WIDTH))
    return "\n".join(lines)


def regions_line(body: dict, shown: int = 6) -> str:
    regions = body.get("regions") or []
    names = [f"{r['code']} {r.get('name_en') or r.get('name') or ''}".strip() for r in regions[:shown]]
    more = f", … ({len(regions)} in all)" if len(regions) > shown else ""
    return clip("  regions:  " + (", ".join(names) or "none (polygons or circles only)") + more, WIDTH)


def summary_text(body: dict, base_url: str, targeted: int | None = None) -> str:
    """What `publish`, `cancel` and `approve` print: id, message type, lifecycle, targeted, links."""
    life = body.get("lifecycle", "")
    lines = [alert_line(body), regions_line(body)]
    if life in LIFECYCLE_NOTES:
        lines.append("  " + LIFECYCLE_NOTES[life].replace("ID", str(body.get("id"))))
    elif targeted is not None:
        lines.append(f"  targeted: {targeted:,}")
    else:
        lines.append("  targeted: still being counted")
    links = body.get("links") or {}
    if links.get("self"):
        lines.append(f"  status:   warncast status {body.get('id')} --watch")
        lines.append(clip(f"  links:    {base_url}{links['self']}", WIDTH))
        for name in ("events", "deliveries"):
            if links.get(name):
                lines.append(clip(f"            {base_url}{links[name]}", WIDTH))
    return "\n".join(lines)


def deliveries_table(stats: dict) -> str:
    """States down, channels across ("all" first), so any number of channels stays readable."""
    channels = {"all": stats.get("totals", {})}
    channels.update({ch: row for ch, row in (stats.get("channels") or {}).items() if ch != "webhook"})
    first = max(len(s) for s in STATES) + 2
    widths = {ch: max(len(ch), *(len(f"{row.get(s, 0):,}") for s in STATES)) + 2 for ch, row in channels.items()}
    lines = [" " * first + "".join(ch.rjust(widths[ch]) for ch in channels)]
    for state in STATES:
        values = [channels[ch].get(state, 0) for ch in channels]
        if state not in ("targeted", "sent", "delivered") and not any(values):
            continue
        cells = ["" if ch != "all" and state == "targeted" else f"{v:,}" for ch, v in zip(channels, values)]
        lines.append(state.ljust(first) + "".join(c.rjust(widths[ch]) for c, ch in zip(cells, channels)))
    lat = (stats.get("latency_ms") or {}).get("sent") or {}
    if lat.get("p50") is not None:
        lines.append("latency from acceptance to sent: " + ", ".join(f"{p} {_ms(lat.get(p))}"
                                                                      for p in ("p50", "p95", "p99")))
    return "\n".join(lines)


def _ms(v) -> str:
    if v is None:
        return "–"
    return "∞" if v == float("inf") else f"≤{int(v)} ms"


def status_text(body: dict) -> str:
    """What `warncast status ID` prints."""
    lines = [alert_line(body), regions_line(body)]
    if body.get("lifecycle") in LIFECYCLE_NOTES:
        lines.append("  " + LIFECYCLE_NOTES[body["lifecycle"]].replace("ID", str(body.get("id"))))
    if body.get("expires_at"):
        lines.append(f"  expires:  {_when(body['expires_at'])}")
    if body.get("references"):
        lines.append("  refers to alerts " + ", ".join(str(r) for r in body["references"]))
    lines.append("")
    lines.append(deliveries_table(body.get("stats") or {}))
    if body.get("cost"):
        lines += ["", cost_text(body["cost"])]
    return "\n".join(lines)


def cost_text(cost: dict) -> str:
    """Estimated and incurred cost per channel, e.g. "sms  12.00 estimated  11.96 incurred"."""
    cur = cost.get("currency", "")
    est, inc = cost.get("estimated") or {}, cost.get("incurred") or {}
    rows = [("cost", f"estimated {cur}", f"incurred {cur}")]
    names = sorted(set(est.get("by_channel") or {}) | set(inc.get("by_channel") or {}))
    for ch in names:
        rows.append((ch, f"{(est.get('by_channel') or {}).get(ch, {}).get('amount', 0):.2f}",
                     f"{(inc.get('by_channel') or {}).get(ch, {}).get('amount', 0):.2f}"))
    rows.append(("total", f"{est.get('total', 0):.2f}", f"{inc.get('total', 0):.2f}"))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    out = ["  ".join(r[i].rjust(width[i]) if i else r[i].ljust(width[i]) for i in range(3)) for r in rows]
    held = (cost.get("suppressed") or {}).get("budget")
    if held:
        out.append(f"suppressed: budget — {held} SMS not sent (over the monthly hard limit)")
    if est.get("all_sms"):
        out.append(f"everyone by SMS would cost {est['all_sms']:.2f} {cur}")
    return "\n".join(out)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def alerts_table(alerts: list[dict]) -> str:
    """One line per alert: id, message type, severity, lifecycle, headline clipped to 80 columns."""
    if not alerts:
        return "no alerts"
    rows = [("id", "type", "severity", "lifecycle", "headline")]
    rows += [(str(a.get("id")), a.get("msgType") or "", a.get("severity") or "", a.get("lifecycle") or "",
              a.get("headline") or "") for a in alerts]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for r in rows:
        left = "  ".join(c.ljust(w) if i else c.rjust(w) for i, (c, w) in enumerate(zip(r[:4], widths)))
        out.append(clip(f"{left}  {r[4]}", WIDTH))
    return "\n".join(out)
