"""Builders for test alerts and subscribers."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import orjson

CST = timezone(timedelta(hours=8))
_seq = itertools.count(1)


def ts(dt: datetime) -> str:
    return dt.astimezone(CST).replace(microsecond=0).isoformat()


def cap_json(*, codes=("110105",), polygons=(), circles=(), severity="Severe", urgency="Expected",
             status="Actual", msg_type="Alert", scope="Public", category="Met", references=None,
             expires_in: float = 3600, identifier: str | None = None, sender="bjmb@cma.gov.cn",
             sent: datetime | None = None, headline="暴雨橙色预警", languages=("zh-CN", "en-US"), response_types=()) -> dict:
    sent = sent or datetime.now(CST)
    infos = []
    for lang in languages:
        area = {"areaDesc": "测试区域" if lang.startswith("zh") else "Test area"}
        if codes:
            area["geocode"] = [{"valueName": "GB/T 2260", "value": c} for c in codes]
        if polygons:
            area["polygon"] = [" ".join(f"{lat},{lon}" for lat, lon in p) for p in polygons]
        if circles:
            area["circle"] = [f"{lat},{lon} {r}" for lat, lon, r in circles]
        infos.append({
            "language": lang, "category": [category], "event": "暴雨" if lang.startswith("zh") else "Rainstorm",
            "urgency": urgency, "severity": severity, "certainty": "Likely",
            "expires": ts(sent + timedelta(seconds=expires_in)), "senderName": "北京市气象台",
            "headline": headline if lang.startswith("zh") else "Rainstorm warning",
            "description": "预计有暴雨" if lang.startswith("zh") else "Heavy rain expected",
            "instruction": "请注意防范" if lang.startswith("zh") else "Stay indoors",
            "area": [area],
        })
        if response_types:
            infos[-1]["responseType"] = list(response_types)
    doc = {"identifier": identifier or f"test-{next(_seq)}-{int(sent.timestamp() * 1000)}", "sender": sender,
           "sent": ts(sent), "status": status, "msgType": msg_type, "scope": scope, "info": infos}
    if scope == "Restricted":
        doc["restriction"] = "staff only"
    if references:
        doc["references"] = " ".join(references)
    return doc


def reference(doc: dict) -> str:
    return f"{doc['sender']},{doc['identifier']},{doc['sent']}"


def body(doc: dict) -> bytes:
    return orjson.dumps(doc)
