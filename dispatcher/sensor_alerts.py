"""CAP Private alerts for household alarms, from the per-kind templates in templates/sensors/.

One incident of one device is one chain of CAP messages sharing an ``incidents`` value: an
``Alert`` when it opens, an ``Update`` when it rises to a higher level, an ``Update`` when it is
escalated to the next contact, and an all-clear ``Update`` (responseType AllClear, urgency Past)
when readings fall back. Each Update references the message before it.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import cap
from .devices import KINDS, Device
from .households import Household

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "sensors"
CST = timezone(timedelta(hours=8))
#: level → (CAP severity, urgency, certainty); an alarm goes out on every channel at once.
LEVELS = {"warning": ("Moderate", "Expected", "Observed"), "alarm": ("Extreme", "Immediate", "Observed"),
          "clear": ("Minor", "Past", "Observed"), "escalated": ("Extreme", "Immediate", "Observed")}
LANGS = {"zh-CN": "zh-CN", "en": "en-US"}
#: How long a household alarm stays current (its CAP expires).
EXPIRES = timedelta(hours=6)


@functools.cache
def template(kind: str) -> dict:
    return json.loads((TEMPLATES / f"{kind}.json").read_text(encoding="utf-8"))


@dataclass
class Step:
    """One message of an incident."""

    what: str                          #: warning, alarm, clear, escalated
    device: Device
    household: Household
    value: float
    incident: str                      #: the CAP incidents value shared by the chain
    seq: int                           #: its place in the chain (0 = the opening Alert)
    addresses: list[str]
    previous: cap.Reference | None = None
    contact: str = ""                  #: who an escalation reached ("the building manager")


def _texts(step: Step, lang: str) -> dict[str, str]:
    t = template(step.device.kind)[lang]
    warning, alarm = step.device.limits()
    place = step.household.name or f"#{step.household.id}"
    if step.device.location:
        place = f"{place} {step.device.location}"
    fields = {"place": place, "device": step.device.name or step.device.id, "value": f"{step.value:g}",
              "unit": KINDS[step.device.kind]["unit"], "alarm": f"{alarm:g}", "warning": f"{warning:g}",
              "contact": step.contact or ("联系人" if lang == "zh-CN" else "the next contact")}
    return {"event": t["event"], "headline": t["headline"][step.what].format(**fields),
            "description": t["description"].format(**fields), "instruction": t["instruction"][step.what].format(**fields)}


def build(step: Step, sender: str, now: datetime | None = None) -> cap.Alert:
    """The CAP message of one step of an incident (validated by the intake like any other)."""
    sent = (now or datetime.now(CST)).astimezone(CST).replace(microsecond=0)
    severity, urgency, certainty = LEVELS[step.what]
    category = template(step.device.kind)["category"]
    infos = []
    for lang, tag in LANGS.items():
        texts = _texts(step, lang)
        infos.append(cap.Info(
            language=tag, categories=[category], event=texts["event"], urgency=urgency, severity=severity,
            certainty=certainty, response_types=["AllClear"] if step.what == "clear" else ["Evacuate"]
            if step.what in ("alarm", "escalated") and step.device.kind != "water-leak" else ["Monitor"],
            expires=sent + EXPIRES, sender_name="warncast sensors", headline=texts["headline"],
            description=texts["description"], instruction=texts["instruction"],
            parameters=[cap.Parameter("device", step.device.id), cap.Parameter("household", str(step.household.id)),
                        cap.Parameter("reading", f"{step.value:g} {KINDS[step.device.kind]['unit']}")],
            areas=[cap.Area(area_desc=step.household.name or f"household {step.household.id}",
                            geocodes=[cap.Geocode("GB/T 2260", step.household.region)] if step.household.region else [])]))
    return cap.Alert(
        identifier=f"{step.incident}-{step.seq}", sender=sender, sent=sent, sent_text=cap.format_datetime(sent),
        status="Actual", msg_type="Alert" if step.previous is None else "Update", scope="Private",
        addresses=step.addresses, incidents=[step.incident],
        references=[step.previous] if step.previous is not None else [], infos=infos)
