"""Render an alert once per (channel kind, language) from the Jinja2 templates in ``templates/``."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jinja2

import templates as _templates
from channels.base import Notice
from channels.sms_text import compose_sms, is_gsm7, septets, ucs2_units
from subscribers.columns import LANGUAGES

from .alerts import AlertRecord
from .lru import BoundedCache

KIND = {"inapp": "inapp", "hms": "push", "fcm": "push", "apns": "push", "webpush": "push",
        "sms": "sms", "smpp": "sms", "webhook": "webhook"}
_PREFIX = {
    "zh-CN": {"Update": "【更新】", "Cancel": "【解除】", "Test": "【测试】", "Exercise": "【演练】"},
    "en": {"Update": "[Update] ", "Cancel": "[Cancelled] ", "Test": "[Test] ", "Exercise": "[Exercise] "},
}
_SEP = {"zh-CN": "、", "en": ", "}

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(_templates.__file__).parent),
                          autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def _block(template: jinja2.Template, name: str, context: dict) -> str:
    return "".join(template.blocks[name](template.new_context(context))).strip()


class Renderer:
    """Caches each rendering for the life of the process: one render per (alert, kind, language)."""

    def __init__(self, sms_signature: str = "", sms_max_parts: int = 4):
        self.sms_signature = sms_signature
        self.sms_max_parts = sms_max_parts
        self._cache: BoundedCache[tuple[int, str, str], Notice] = BoundedCache(4096)
        self._guided: BoundedCache[tuple[int, str, str, str], Notice] = BoundedCache(65_536)
        self._sms_frames: BoundedCache[tuple[int, str, int, bool], tuple[str, str]] = BoundedCache(1024)

    def notice(self, rec: AlertRecord, channel: str, lang: str) -> Notice:
        kind = KIND[channel]
        lang = lang if lang in LANGUAGES else "en"
        key = (rec.id, kind, lang)
        if key not in self._cache:
            self._cache[key] = self._render(rec, kind, lang)
        return self._cache[key]

    def guided(self, rec: AlertRecord, channel: str, lang: str, line: str) -> Notice:
        """The notice carrying a shelter guidance line: first in a push body (what a lock screen shows),
        right after the headline in SMS (shortened last); other kinds unchanged (in-app lists the shelters
        itself)."""
        kind = KIND[channel]
        lang = lang if lang in LANGUAGES else "en"
        base = self.notice(rec, channel, lang)
        if kind not in ("push", "sms"):
            return base
        key = (rec.id, kind, lang, line)
        if key not in self._guided:
            if kind == "sms":
                body = self._guided_sms(rec, lang, line)
            else:
                body = f"{line}\n{base.body}"
            self._guided[key] = dataclasses.replace(base, body=body)
        return self._guided[key]

    def _guided_sms(self, rec: AlertRecord, lang: str, line: str) -> str:
        """The SMS with ``line`` after its headline. Fitting a text to its segments is costly, so it is
        done once per (length, encoding) of line: with a placeholder as long, which the line replaces
        (no longer and of the same encoding, it cannot need more segments)."""
        gsm = is_gsm7(line)
        units = septets(line) if gsm else ucs2_units(line)
        room = -(-units // 16) * 16
        key = (rec.id, lang, room, gsm)
        if key not in self._sms_frames:
            ctx = self._context(rec, lang)
            full = _block(_env.get_template(f"sms/{lang}.j2"), "body", ctx)
            placeholder = ("x" if gsm else "中") * room
            self._sms_frames[key] = (placeholder, self._sms(rec, lang, ctx, full, guidance=placeholder))
        placeholder, frame = self._sms_frames[key]
        if placeholder in frame:
            return frame.replace(placeholder, line, 1)
        ctx = self._context(rec, lang)              # the line itself had to be shortened: fit it as it is
        return self._sms(rec, lang, ctx, _block(_env.get_template(f"sms/{lang}.j2"), "body", ctx), guidance=line)

    def _context(self, rec: AlertRecord, lang: str) -> dict:
        alert = rec.alert
        info = alert.info_for(lang) if alert.infos else None
        prefix = _PREFIX[lang].get(alert.msg_type, "") or _PREFIX[lang].get(alert.status, "")
        sender = (info.sender_name if info and info.sender_name else alert.sender)
        return {
            "prefix": prefix, "msg_type": alert.msg_type, "status": alert.status,
            "headline": (info.headline or info.event) if info else alert.identifier,
            "description": (info.description or "") if info else (alert.note or ""),
            "instruction": (info.instruction or "") if info else "",
            "area": _SEP[lang].join(a.area_desc for a in info.areas) if info else "",
            "sender_name": sender, "sent_local": alert.sent.strftime("%Y-%m-%d %H:%M"),
            "event": info.event if info else "", "severity": alert.severity(),
        }

    def _sms(self, rec: AlertRecord, lang: str, ctx: dict, body: str, guidance: str = "") -> str:
        alert = rec.alert
        info = alert.info_for(lang) if alert.infos else None
        short = info.parameter("SMS") or info.parameter("shortText") if info else None
        return compose_sms(headline=ctx["prefix"] + ctx["headline"], area=ctx["area"],
                           instruction=short or ctx["instruction"], body="" if short else body,
                           signature=self.sms_signature, max_parts=self.sms_max_parts, lang=lang,
                           guidance=guidance)

    def _render(self, rec: AlertRecord, kind: str, lang: str) -> Notice:
        alert = rec.alert
        ctx = self._context(rec, lang)
        template = _env.get_template(f"{kind}/{lang}.j2")
        title, body = _block(template, "title", ctx), _block(template, "body", ctx)
        if kind == "sms":
            body = self._sms(rec, lang, ctx, body)
        return Notice(alert_id=rec.id, identifier=alert.identifier, lang=lang, title=title, body=body,
                      severity=alert.severity(), urgency=alert.urgency(),
                      expires_at=rec.expires_at or rec.accepted_at + 86_400, collapse_key=f"a{rec.id}",
                      msg_type=alert.msg_type, cap_xml=rec.xml,
                      data={"alert_id": str(rec.id), "identifier": alert.identifier,
                            "severity": alert.severity(), "msgType": alert.msg_type})
