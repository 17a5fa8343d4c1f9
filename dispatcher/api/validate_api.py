"""``POST /api/v1/alerts:validate``: intake's checks and the audience estimate, storing and sending nothing."""
from __future__ import annotations

from aiohttp import web

from .. import cap, intake, signatures
from ..auth import authorize_alert, authorize_sender
from ..cap.errors import FieldError
from ..errors import Forbidden, Rejected
from ..cost import all_sms, estimated
from ..estimate import Audience, dry_record, estimate
from ..validation import Report, media_type_of, validate
from . import context as ctx
from .common import MAX_ERRORS, caller, json_response, read_limited


async def _scope_errors(app: web.Application, who, alert: cap.Alert) -> list[FieldError]:
    """What publishing would refuse as outside the caller's scopes or senders."""
    try:
        authorize_alert(who, alert)
        await authorize_sender(who, alert, app[ctx.KEYS])
    except Forbidden as exc:
        paths = [e.get("path") for e in exc.errors if e.get("path")]
        return [FieldError(paths[0] if paths else "alert/info/area", exc.message)]
    return []


async def validate_alert(request: web.Request) -> web.Response:
    """200 with ``valid``, ``errors``, ``warnings`` and (when valid) ``estimate``; 413/415 for the body itself."""
    who = await caller(request)
    who.require("issuer", "admin")
    app = request.app
    settings, engine = app[ctx.SETTINGS], app[ctx.ENGINE]
    body = await read_limited(request, settings.max_body_bytes, path="alert")
    content_type = request.headers.get("Content-Type") or None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("", "application/octet-stream", "text/plain"):
        content_type = None  # sniffed, as the CLI does
    report: Report = validate(body, content_type, settings)
    if any(isinstance(e, FieldError) and e.path == "Content-Type" for e in report.errors):
        return json_response(report.as_dict(), status=415)
    out = report.as_dict()
    alert = report.alert
    if alert is not None:
        report.errors += await _scope_errors(app, who, alert)
        policy = signatures.policy_for(signatures.load_policies(settings.signers_file),
                                       getattr(who, "key_id", None), who.name)
        try:
            report.warnings += signatures.check(body, cap.is_xml(content_type or media_type_of(body)), policy)
        except Rejected as exc:
            report.errors += [FieldError(e["path"], e["message"]) for e in exc.errors]
        unknown = await engine.alerts.unknown_references(alert)
        report.warnings += intake.reference_warnings(unknown)
        out = report.as_dict()
        if not report.errors:
            where = Audience(app[ctx.REDIS], settings.shard_size, await engine.subscribers.shard_count(),
                             tuple(engine.channels), settings.sms_signature)
            rec = dry_record(alert, await engine.alerts.resolve_references(alert), who.name)
            est = await estimate(where, rec)
            est["cost"] = {**estimated(settings, est), "all_sms": all_sms(settings, est)}
            out["estimate"] = est
    return json_response(_capped(out))


def _capped(out: dict) -> dict:
    """At most MAX_ERRORS errors and warnings, with counts of the rest (as every error answer)."""
    for name in ("errors", "warnings"):
        if len(out[name]) > MAX_ERRORS:
            out[f"{name}_omitted"] = len(out[name]) - MAX_ERRORS
            out[name] = out[name][:MAX_ERRORS]
    return out


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/alerts:validate", validate_alert)
