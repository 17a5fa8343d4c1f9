"""What one inbox entry says: the alert as rendered for the subscriber, its lifecycle (active, updated
by N, cancelled, expired) and, for Shelter/Evacuate warnings, the subscriber's nearest open shelters."""
from __future__ import annotations

import time

import numpy as np

from subscribers import regions

from ..alerts import AlertRecord, Lifecycle
from ..delivery import State
from ..nearest import direction, guidance, nearest
from ..shelters import ShelterStore, kinds_for, wants_shelter

#: Shelters listed with a Shelter/Evacuate warning.
SHELTERS_LISTED = 3


def successors(records: list[AlertRecord]) -> dict[int, tuple[str, int]]:
    """Alert id → (msgType, id) of the latest alert in ``records`` that updates or cancels it."""
    out: dict[int, tuple[str, int]] = {}
    for rec in sorted(records, key=lambda r: r.id):
        if rec.alert.msg_type in ("Update", "Cancel"):
            for ref in rec.references:
                out[ref] = (rec.alert.msg_type, rec.id)
    return out


def lifecycle(rec: AlertRecord, after: dict[int, tuple[str, int]], now: float | None = None) -> dict:
    """{"lifecycle": active|updated|cancelled|expired, "updated_by": id|None, "cancelled_by": id|None}."""
    now = time.time() if now is None else now
    kind, by = after.get(rec.id, ("", None))
    if kind == "Cancel" or rec.lifecycle == Lifecycle.CANCELLED:
        state = "cancelled"
    elif kind == "Update" or rec.lifecycle == Lifecycle.SUPERSEDED:
        state = "updated"
    elif rec.lifecycle == Lifecycle.EXPIRED or (rec.expires_at is not None and rec.expires_at <= now):
        state = "expired"
    else:
        state = "active"
    return {"lifecycle": state, "updated_by": by if kind == "Update" else None,
            "cancelled_by": by if kind == "Cancel" else None}


def _origin(sub) -> tuple[float, float] | None:
    if sub.location is not None:
        return sub.location
    for code in sub.regions:
        for c in [code, *regions.ancestors(code)]:
            seat = regions.centroid(c)
            if seat:
                return seat
    return None


async def shelters_for(store: ShelterStore, rec: AlertRecord, sub, lang: str) -> tuple[list[dict], str | None, dict | None]:
    """The subscriber's nearest open shelters fit for the alert, and the guidance line (from its location,
    else its district's seat); nothing for alerts that do not tell people to shelter or evacuate."""
    origin = _origin(sub)
    if origin is None or not wants_shelter(rec.alert):
        return [], None, None
    arrays = await store.arrays()
    found = nearest(np.array([origin[0]]), np.array([origin[1]]), arrays, SHELTERS_LISTED, kinds_for(rec.alert))
    listed = []
    for idx, km, brg in zip(found.index[0].tolist(), found.km[0].tolist(), found.bearing[0].tolist()):
        if idx >= 0:
            s = arrays.shelters[idx]
            listed.append({"id": s.id, "name": s.display_name(lang), "address": s.display_address(lang),
                           "lat": s.lat, "lon": s.lon, "capacity": s.capacity, "kinds": s.kinds,
                           "distance_km": round(km, 3), "bearing": round(brg, 1), "direction": direction(brg, lang)})
    where = {"lat": origin[0], "lon": origin[1], "source": "location" if sub.location is not None else "district"}
    return listed, guidance(found, arrays, lang)[0], where


async def item(engine, store: ShelterStore, rec: AlertRecord, sub, lang: str, state: int,
               after: dict[int, tuple[str, int]]) -> dict:
    n = engine.renderer.notice(rec, "inapp", lang)
    shelters, line, origin = await shelters_for(store, rec, sub, lang)
    return {"alert_id": rec.id, "identifier": rec.alert.identifier, "msgType": rec.alert.msg_type,
            "status": rec.alert.status, "severity": n.severity, "urgency": n.urgency, "title": n.title,
            "body": f"{n.body}\n{line}" if line else n.body, "sent": rec.alert.sent_text,
            "expires_at": rec.expires_at, "state": State(state).label, "references": rec.references,
            **lifecycle(rec, after), "response_types": sorted({r for i in rec.alert.infos for r in i.response_types}),
            "shelter_guidance": line, "shelters": shelters, "shelter_origin": origin, "links": {"cap": f"/api/v1/alerts/{rec.id}.xml"}}
