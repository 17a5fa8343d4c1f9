"""Who is calling and what they may touch: API keys (see apikeys) with roles, region scopes, an
organisation and CAP senders; subscriber tokens (see subscribers.store).

Alert ownership goes through ``may_amend``: an issuer may read and amend its own organisation's
alerts and those an operator delegated to its organisation; operators and admins may amend all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import cap
from .apikeys import ROLES, KeyStore  # noqa: F401  (re-exported: callers import them from here)
from .errors import Forbidden, Unauthorized
from .scopes import allowed_region, outside, parse_bbox  # noqa: F401


@dataclass(frozen=True)
class Caller:
    name: str
    role: str                                   #: issuer / operator / admin / subscriber
    scopes: tuple[str, ...] = field(default=())  #: region-code prefixes an issuer may alert; "*" = all
    subscriber_id: int | None = None
    key_id: int | None = None                   #: the API key's id; None for the bootstrap admin key
    org: str = ""                               #: the organisation the key acts for
    senders: tuple[str, ...] = ()               #: CAP senders bound to the key ("" = any its org may use)

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; the caller is {self.role}")

    def may_touch_subscriber(self, sid: int) -> None:
        if self.role in ("operator", "admin"):
            return
        if self.subscriber_id != sid:
            raise Forbidden("a subscriber token gives access to its own record only")

    @property
    def label(self) -> str:
        """How logs and the audit trail name the caller: "key 7 (chaoyang-emergency)"."""
        return self.name if self.key_id is None else f"key {self.key_id} ({self.name})"


def same_issuer(caller: Caller, record) -> bool:
    """Whether the record (an AlertRecord) was issued by the caller's organisation."""
    return bool(caller.org) and getattr(record, "org", None) == caller.org


def may_amend(caller: Caller, record) -> bool:
    """Whether the caller may read, update or cancel the alert: operators and admins always;
    an issuer for its own organisation's alerts and for those delegated to its organisation."""
    if caller.role in ("operator", "admin"):
        return True
    if caller.role != "issuer":
        return False
    return same_issuer(caller, record) or caller.org in getattr(record, "delegates", ())


def require_amend(caller: Caller, record) -> None:
    if not may_amend(caller, record):
        raise Forbidden(f"alert {record.id} belongs to another organisation and was not delegated to "
                        f"{caller.org or caller.name}")


async def authorize_sender(caller: Caller, alert: cap.Alert, key_store: KeyStore) -> None:
    """An issuer publishes only with its own CAP senders: those bound to its key, and never one
    that another organisation owns."""
    if caller.role != "issuer":
        return
    problem = None
    if caller.senders and alert.sender not in caller.senders:
        problem = f"key {caller.key_id} may publish as {', '.join(caller.senders)} only"
    else:
        owner = await key_store.sender_owner(alert.sender)
        if owner is not None and owner != caller.org:
            problem = f"sender {alert.sender} belongs to another organisation"
    if problem:
        raise Forbidden(f"alert/sender: {problem}", [{"path": "alert/sender", "message": problem}])


def authorize_alert(caller: Caller, alert: cap.Alert) -> None:
    """Issuers may alert only inside their scopes: every geocode under one of their region codes,
    every polygon and circle wholly inside the union of their bounding boxes."""
    caller.require("issuer", "admin")
    if "*" in caller.scopes:
        return
    codes_ok = [s for s in caller.scopes if s.isdigit()]
    region = allowed_region(caller.scopes)
    boxes = ", ".join(s for s in caller.scopes if s.startswith("bbox:")) or "none"
    for i, info in enumerate(alert.infos):
        for j, area in enumerate(info.areas):
            where = f"alert/info[{i}]/area[{j}]"
            for code in (g.value for g in area.geocodes):
                if not any(code.startswith(s) for s in codes_ok):
                    raise Forbidden(f"issuer {caller.name} may alert {', '.join(caller.scopes)} only; "
                                    f"{where} names {code}", [{"path": f"{where}/geocode", "message": code}])
            shape = outside(region, area.polygons, area.circles)
            if shape:
                raise Forbidden(f"{where}/{shape} draws a polygon or circle outside the bounding boxes issuer "
                                f"{caller.name} may alert ({boxes})",
                                [{"path": f"{where}/{shape}", "message": "outside the issuer's bounding boxes"}])
            if not area.geocodes and not area.polygons and not area.circles:
                raise Forbidden(f"{where} names no region and draws no shape")


def unauthorized() -> Unauthorized:
    return Unauthorized("send an API key or subscriber token as 'Authorization: Bearer …'")
