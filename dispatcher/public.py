"""What the public may see: the one rule every unauthenticated endpoint applies.

An alert is public only while it is an ``Actual`` message of ``Public`` scope
whose fan-out was allowed to start (``sending`` or ``done``) and has not
expired. Held (unapproved), rejected, stopped, Draft, System, Test, Exercise,
Restricted and Private messages never appear on ``/cap/feed.atom`` or
``/cap/alerts/{id}.xml``; those endpoints answer 404 for them as for an id
that does not exist.
"""
from __future__ import annotations

import time

from .alerts import AlertRecord, Lifecycle

#: Lifecycles in which an alert may be shown to the public.
PUBLIC_LIFECYCLES = (Lifecycle.SENDING, Lifecycle.DONE)


def is_public(rec: AlertRecord, now: float | None = None) -> bool:
    """Whether anyone, unauthenticated, may read this alert."""
    now = time.time() if now is None else now
    alert = rec.alert
    return (alert.status == "Actual" and alert.scope == "Public"
            and rec.lifecycle in PUBLIC_LIFECYCLES
            and (rec.expires_at is None or rec.expires_at > now))
