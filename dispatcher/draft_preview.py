"""The composer's live preview: a form rendered by the real templates and renderer for each channel
and language (push title and body, the SMS text with its signature, encoding and segment count,
the in-app card), the validator's errors and warnings, and — once the form is complete — the
audience estimate from the real planner in dry-run mode. Nothing is stored."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import orjson

from channels.sms_text import encoding, segments

from . import cap, draft_form, intake
from .api import context as ctx
from .auth import Caller, authorize_alert, authorize_sender
from .errors import Forbidden, NotFound
from .estimate import Audience, dry_record, estimate
from .render import Renderer

CST = timezone(timedelta(hours=8))
#: What each preview shows, by the renderer's channel names.
CHANNELS = {"push": "fcm", "sms": "sms", "inapp": "inapp"}
_PLACEHOLDER = {"event": "…", "headline": "…", "description": "", "instruction": ""}


def _renderable(form: dict) -> dict:
    """The form with stand-ins where it is incomplete, so what is written can still be shown."""
    f = copy.deepcopy(form) if isinstance(form, dict) else {}
    langs = [x for x in f.get("languages", []) if x in draft_form.LANGUAGES] if isinstance(
        f.get("languages"), list) else []
    f["languages"] = langs or ["zh-CN"]
    texts = f.get("texts") if isinstance(f.get("texts"), dict) else {}
    f["texts"] = {lang: _texts(texts.get(lang)) for lang in f["languages"]}
    f["level"] = f.get("level") if f.get("level") in draft_form.LEVELS else None
    f["category"] = f.get("category") if f.get("category") in draft_form.CATEGORIES else "Met"
    f["sender_name"] = f.get("sender_name") if isinstance(f.get("sender_name"), str) else ""
    for name, allowed, default in (("status", ("Actual", "Exercise", "Test"), "Actual"),
                                   ("severity", tuple(cap.SEVERITY_RANK), "Unknown"),
                                   ("urgency", tuple(cap.URGENCY_RANK), "Unknown"),
                                   ("certainty", tuple(cap.CERTAINTY_RANK), "Unknown")):
        f[name] = f.get(name) if f.get(name) in allowed else default
    f["msg_type"] = "Update" if f.get("msg_type") == "Update" else "Alert"
    if not isinstance(f.get("sender"), str) or not draft_form._SENDER.fullmatch(f.get("sender") or ""):
        f["sender"] = "preview"
    try:
        cap.parse_datetime(f.get("expires") or "")
    except (ValueError, TypeError, cap.CapError):
        f["expires"] = cap.format_datetime(datetime.now(CST).replace(microsecond=0) + timedelta(hours=6))
    area = f.get("area") if isinstance(f.get("area"), dict) else {}
    try:
        draft_form._area({"area": area}, problems := [])
    except (TypeError, ValueError):
        problems = [1]
    f["area"] = area if not problems else {"codes": [], "desc": area.get("desc") if isinstance(area.get("desc"), dict) else {}}
    if not f["area"].get("codes") and not f["area"].get("polygons") and not f["area"].get("circles"):
        f["area"]["desc"] = {lang: (f["area"].get("desc") or {}).get(lang) or "—" for lang in f["languages"]}
    return f


def _texts(given) -> dict[str, str]:
    given = given if isinstance(given, dict) else {}
    return {k: (given[k] if isinstance(given.get(k), str) and given[k].strip() else v) for k, v in _PLACEHOLDER.items()}


def _notices(alert: cap.Alert, languages: list[str], settings) -> dict:
    renderer = Renderer(settings.sms_signature, settings.sms_max_parts)
    rec = dry_record(alert, [])
    out: dict = {}
    for lang in languages:
        out[lang] = {}
        for kind, channel in CHANNELS.items():
            n = renderer.notice(rec, channel, lang)
            out[lang][kind] = {"title": n.title, "body": n.body}
        sms = out[lang]["sms"]["body"]
        out[lang]["sms"].update(segments=segments(sms), encoding=encoding(sms), characters=len(sms))
    return out


async def _scope_problems(app, who: Caller, alert: cap.Alert) -> list[dict]:
    try:
        authorize_alert(who, alert)
        await authorize_sender(who, alert, app[ctx.KEYS])
    except Forbidden as exc:
        return [{"path": (exc.errors[0].get("path") if exc.errors else "area") or "area", "message": exc.message}]
    return []


async def preview(app, who: Caller, form) -> dict:
    """{"form_errors", "errors", "warnings", "channels": {lang: {push, sms, inapp}}, "estimate"}."""
    settings = app[ctx.SETTINGS]
    try:
        draft_form.check(form)
        form_errors: list[dict] = []
    except draft_form.FormError as exc:
        form_errors = exc.errors
    shown = _renderable(form)
    doc = draft_form.to_cap(shown, identifier="console-preview", sent=datetime.now(CST).replace(microsecond=0))
    try:
        alert = cap.parse(orjson.dumps(doc), "application/json", settings.max_body_bytes)
    except cap.CapError as exc:
        return {"form_errors": form_errors, "errors": exc.as_list(), "warnings": [], "channels": {}, "estimate": None}
    found = intake.review(alert, settings)
    errors, warnings = found.as_lists()
    errors += await _scope_problems(app, who, alert)
    out = {"form_errors": form_errors, "errors": errors, "warnings": warnings,
           "channels": _notices(alert, shown["languages"], settings), "estimate": None}
    if not form_errors and not errors:
        out["estimate"] = await _estimate(app, who, alert, shown)
    return out


async def _estimate(app, who: Caller, alert: cap.Alert, form: dict) -> dict:
    engine, settings = app[ctx.ENGINE], app[ctx.SETTINGS]
    refs: list[int] = []
    if form.get("msg_type") == "Update" and isinstance(form.get("update_of"), int):
        try:
            await engine.alerts.get(form["update_of"])
            refs = [form["update_of"]]
        except NotFound:
            refs = []
    where = Audience(app[ctx.REDIS], settings.shard_size, await engine.subscribers.shard_count(),
                     tuple(engine.channels), settings.sms_signature)
    return await estimate(where, dry_record(alert, refs, who.name))
