"""The approval workflow of console drafts: who may do what, and publication through the same code as
POST /api/v1/alerts (CAP parsing, intake review, scope and sender checks, ``issuer.admit``).

Every step is one transition of ``drafts.DraftStore`` and one audit entry. A draft is checked as
publishing would check it when it is submitted, so the author hears of a problem before anyone is
asked to approve; it is checked again, as it stands then, when it is approved.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
from aiohttp import web

from . import approval_rules, audit, cap, draft_form, intake
from .api import context as ctx
from .audit import Action
from .auth import Caller, authorize_alert, authorize_sender, require_amend
from .drafts import Draft, DraftState, DraftStore, person, same_person
from .errors import Conflict, Forbidden, NotFound, Rejected

CST = timezone(timedelta(hours=8))
DRAFTS: web.AppKey[DraftStore] = web.AppKey("drafts", DraftStore)
#: Longest rejection reason kept (characters), as for held alerts.
MAX_REASON = 2_000


def may_write(who: Caller, draft: Draft) -> None:
    """Issuers of the draft's organisation and admins write, submit and withdraw it."""
    if who.role == "admin" or (who.role == "issuer" and who.org == draft.org):
        return
    raise Forbidden(f"draft {draft.id} belongs to {draft.org}; only its organisation's issuers may change it")


def may_read(who: Caller, draft: Draft) -> None:
    if who.role in ("operator", "admin") or who.org == draft.org:
        return
    raise NotFound(f"no draft {draft.id}", [{"field": "id", "message": "unknown draft"}])


async def _references(app, who: Caller, form: dict) -> str:
    """An Update's CAP references: the alert it updates, which the author must be allowed to amend."""
    if form.get("msg_type") != "Update":
        return ""
    rec = await app[ctx.ENGINE].alerts.get(form["update_of"])
    require_amend(who, rec)
    return ",".join(rec.alert.identity())


async def build_alert(app, who: Caller, draft_id: int, number: int, form: dict) -> cap.Alert:
    """The CAP alert a version publishes as, checked as POST /api/v1/alerts checks it (Rejected,
    listing each problem with its CAP path, when it would be refused)."""
    sent = datetime.now(CST).replace(microsecond=0)
    doc = draft_form.to_cap(form, identifier=f"console-{draft_id}-v{number}-{int(sent.timestamp())}", sent=sent,
                            references=await _references(app, who, form))
    settings = app[ctx.SETTINGS]
    try:
        alert = cap.parse(orjson.dumps(doc), "application/json", settings.max_body_bytes)
    except cap.CapError as exc:
        raise Rejected(f"the warning is not valid CAP: {exc}", exc.as_list()) from None
    found = intake.review(alert, settings)
    if found.errors:
        errors, _ = found.as_lists()
        raise Rejected(f"{len(errors)} problem(s) would stop publication", errors)
    expires = alert.expires_at()
    if expires is not None and expires <= datetime.now(CST):
        raise Rejected("the warning has already expired", [{"path": "expires", "message": "set a later time"}])
    authorize_alert(who, alert)
    await authorize_sender(who, alert, app[ctx.KEYS])
    return alert


async def author_caller(app, author: dict) -> Caller:
    """The author as publishing sees them now (scopes, senders): their key must still stand."""
    if author.get("key_id") is None:
        return Caller("admin", "admin", ("*",), org="*")
    rec = await app[ctx.KEYS].get(int(author["key_id"]))
    if rec.revoked is not None:
        raise Conflict(f"the author's key {rec.id} has been revoked; the warning cannot go out under it")
    return Caller(rec.name, rec.role, tuple(rec.scopes), key_id=rec.id, org=rec.org, senders=tuple(rec.senders))


async def save(app, who: Caller, form, origin: str, draft_id: int | None = None, base: int | None = None) -> Draft:
    """A new draft, or a new version of one (from draft or rejected, on top of version ``base``)."""
    who.require("issuer", "admin")
    try:
        form = draft_form.check(form)
    except draft_form.FormError as exc:
        raise Rejected(str(exc), exc.errors) from None
    store = app[DRAFTS]
    if draft_id is None:
        draft = await store.create(form, who)
    else:
        may_write(who, await store.get(draft_id))
        draft = await store.move(draft_id, DraftState.DRAFT, who, version=base, new_form=form)
    await audit.record(app[ctx.REDIS], Action.DRAFT_SAVED, who, origin, draft=draft.id, version=draft.version)
    return draft


async def submit(app, who: Caller, draft_id: int, number: int, origin: str) -> Draft:
    """Send a version to approval, or straight out when no approval rule applies to it."""
    store = app[DRAFTS]
    draft = await store.get(draft_id)
    may_write(who, draft)
    version = await store.version(draft_id, number)
    alert = await build_alert(app, who, draft_id, number, version.form)
    rules = await approval_rules.load(app[ctx.REDIS], app[ctx.SETTINGS].approval_severities)
    if rules.needs_approval(alert.severity(), alert.status, draft.org, alert.msg_type):
        draft = await store.move(draft_id, DraftState.PENDING, who, version=number)
        await audit.record(app[ctx.REDIS], Action.DRAFT_SUBMITTED, who, origin, draft=draft_id, version=number)
        return draft
    return await _publish(app, who, draft_id, number, origin, approver=None)


async def approve(app, who: Caller, draft_id: int, number: int, origin: str) -> Draft:
    """A second person approves the version they saw; it is published at once."""
    who.require("operator", "admin")
    store = app[DRAFTS]
    draft = await store.get(draft_id)
    if draft.state is not DraftState.PENDING:
        raise Conflict(f"draft {draft_id} is {draft.state.value}, not waiting for approval")
    if any(same_person(a, person(who)) for a in await store.authors(draft_id)):
        raise Forbidden("you wrote a version of this warning: another person must approve it",
                        [{"field": "approver", "message": "an author of the draft"}])
    return await _publish(app, who, draft_id, number, origin, approver=who)


async def _publish(app, who: Caller, draft_id: int, number: int, origin: str, approver: Caller | None) -> Draft:
    store = app[DRAFTS]
    version = await store.version(draft_id, number)
    author = await author_caller(app, version.author)
    alert = await build_alert(app, author, draft_id, number, version.form)
    approved = orjson.dumps(person(approver)).decode() if approver else ""
    await store.move(draft_id, DraftState.APPROVED, who, version=number, approved_by=approved)
    if approver:
        await audit.record(app[ctx.REDIS], Action.DRAFT_APPROVED, who, origin, draft=draft_id, version=number)
    from .api.issuer import admit
    try:
        rec, _, _ = await admit(app, author, alert, origin, approved_by=approver.label if approver else "")
    except Exception as exc:
        back = DraftState.PENDING if approver else DraftState.DRAFT
        await store.move(draft_id, back, who, version=number, back=True,
                         note={"error": getattr(exc, "message", str(exc))[:500]})
        raise
    return await store.move(draft_id, DraftState.PUBLISHED, who, version=number, alert_id=str(rec.id))


async def reject(app, who: Caller, draft_id: int, number: int, reason, origin: str) -> Draft:
    """Refuse the version with a reason its authors see; they may edit it into a new version."""
    who.require("operator", "admin")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise Rejected("a rejection needs a reason", [{"field": "reason", "message": f"1 to {MAX_REASON} "
                                                       "characters the author will read"}])
    store = app[DRAFTS]
    if any(same_person(a, person(who)) for a in await store.authors(draft_id)):
        raise Forbidden("you wrote a version of this warning: withdraw it instead of rejecting it",
                        [{"field": "approver", "message": "an author of the draft"}])
    rejection = {"by": person(who), "reason": reason.strip(), "version": number}
    draft = await store.move(draft_id, DraftState.REJECTED, who, version=number, note={"reason": reason.strip()},
                             rejection=orjson.dumps(rejection).decode())
    await audit.record(app[ctx.REDIS], Action.DRAFT_REJECTED, who, origin, draft=draft_id, version=number,
                       reason=reason.strip())
    return draft


async def cancel(app, who: Caller, draft_id: int, origin: str) -> Draft:
    """Withdraw a draft; once published, its alert is cancelled with a CAP Cancel (as the API does)."""
    store = app[DRAFTS]
    draft = await store.get(draft_id)
    if who.role not in ("operator", "admin"):
        may_write(who, draft)
    if draft.state is DraftState.PUBLISHED and draft.alert_id is not None:
        from .api.issuer import admit, cancel_message
        rec = await app[ctx.ENGINE].alerts.get(draft.alert_id)
        require_amend(who, rec)
        await admit(app, who, cancel_message(who, rec, "cancelled in the console"), origin)
    draft = await store.move(draft_id, DraftState.CANCELLED, who)
    await audit.record(app[ctx.REDIS], Action.DRAFT_CANCELLED, who, origin, draft=draft_id, alert=draft.alert_id)
    return draft
