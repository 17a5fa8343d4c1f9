"""An SMS number given at open registration is used only once its owner proves it with a one-time
code sent to it through the SMS channel. Until then the number waits here, outside the
subscriber's record, so targeting and the channel chain never reach it.

    registered ──send──▶ code sent (10 min, 5 tries) ──right code──▶ verified (number in the record)
        ▲                   │ wrong code ×5 / expired
        └────── send again ◀┘ (at most once a minute; a number gets at most 3 codes an hour)

Codes are stored only as a keyed digest. Numbers an operator imports (or sets) count as verified.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

from channels.base import Notice, Recipient

from . import keys
from .errors import NotFound, Rejected, TooManyRequests, Unavailable
from .registration_limit import count_in_window

CODE_TTL_S = 600
MAX_ATTEMPTS = 5
RESEND_AFTER_S = 60
CODES_PER_NUMBER_PER_HOUR = 3
#: An unverified number is forgotten after a day.
PENDING_TTL_S = 86_400


@dataclass
class Pending:
    number: str
    #: The channel chain the subscriber asked for, SMS included, restored once verified.
    channels: list[str]


def _digest(sid: int, number: str, code: str) -> str:
    return hmac.new(number.encode(), f"{sid}:{code}".encode(), hashlib.sha256).hexdigest()


async def hold(redis, sid: int, pending: Pending) -> None:
    """Keep a number until it is verified (a new number replaces one still waiting)."""
    key = keys.sms_verification(sid)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(key)
    pipe.hset(key, mapping={"number": pending.number, "channels": orjson.dumps(pending.channels)})
    pipe.expire(key, PENDING_TTL_S)
    await pipe.execute()


async def waiting(redis, sid: int) -> str | None:
    """The number waiting for verification, if any."""
    raw = await redis.hget(keys.sms_verification(sid), "number")
    return raw.decode() if raw else None


async def send_code(redis, sid: int, channel, signature: str, now: float | None = None) -> dict:
    """Send a new code to the waiting number; TooManyRequests when asked too often."""
    now = now or time.time()
    key = keys.sms_verification(sid)
    rec = {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
    if "number" not in rec:
        raise NotFound("no SMS number is waiting for verification", [{"field": "endpoints.sms",
                                                                      "message": "register or set one first"}])
    wait = int(float(rec.get("sent_at", 0)) + RESEND_AFTER_S - now)
    if wait > 0:
        raise TooManyRequests(f"a code was sent less than {RESEND_AFTER_S} s ago", retry_after_s=wait,
                              errors=[{"field": "code", "message": "wait before asking again"}])
    number = rec["number"]
    sent, ttl = await count_in_window(redis, keys.sms_codes_sent(number), 3600)
    if sent > CODES_PER_NUMBER_PER_HOUR:
        raise TooManyRequests("this number has been sent enough codes for now", retry_after_s=max(1, int(ttl)),
                              errors=[{"field": "endpoints.sms", "message": "too many codes this hour"}])
    code = f"{secrets.randbelow(10 ** 6):06d}"
    result = (await channel.send(_notice(code, signature, now), [Recipient(sid, number)]))[0]
    if not result.ok:
        raise Unavailable("the SMS gateway did not take the code; try again later",
                          [{"field": "endpoints.sms", "message": result.reason.value}])
    await redis.hset(key, mapping={"code": _digest(sid, number, code), "expires_at": now + CODE_TTL_S,
                                   "attempts": 0, "sent_at": now})
    return {"expires_in_s": CODE_TTL_S, "resend_after_s": RESEND_AFTER_S, "attempts": MAX_ATTEMPTS}


async def confirm(redis, sid: int, code: str, now: float | None = None) -> Pending:
    """The waiting number, once ``code`` is right (the code is then spent); Rejected otherwise."""
    now = now or time.time()
    key = keys.sms_verification(sid)
    attempts = await redis.hincrby(key, "attempts", 1)
    rec = {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
    if "number" not in rec:
        await redis.delete(key)
        raise NotFound("no SMS number is waiting for verification")
    if "code" not in rec or float(rec.get("expires_at", 0)) < now:
        raise Rejected("no code is pending, or it expired; ask for a new one",
                       [{"field": "code", "message": "ask for a new code"}])
    if attempts > MAX_ATTEMPTS:
        raise Rejected("too many wrong codes; ask for a new one", [{"field": "code", "message": "ask for a new code"}])
    if not hmac.compare_digest(_digest(sid, rec["number"], code), rec["code"]):
        left = MAX_ATTEMPTS - attempts
        raise Rejected("wrong code", [{"field": "code", "message": f"wrong code; {left} attempt(s) left"}])
    await redis.delete(key)
    return Pending(rec["number"], orjson.loads(rec["channels"]))


def _notice(code: str, signature: str, now: float) -> Notice:
    body = f"【{signature}】验证码 {code}，10 分钟内有效。Your warncast code is {code}." if signature else \
        f"验证码 {code}，10 分钟内有效。Your warncast code is {code}."
    return Notice(alert_id=0, identifier="sms-verification", lang="zh-CN", title="", body=body, severity="Minor",
                  urgency="Immediate", expires_at=now + CODE_TTL_S, collapse_key="sms-verification")
