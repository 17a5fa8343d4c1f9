"""Locust load profile for the warncast API: issuers, subscribers and their devices.

Run it through ``python -m loadtest.run_locust`` (which starts Redis, the API processes and
this file on loopback), or by hand against a running API::

    WARNCAST_LOCUST_ISSUER_KEY=wk_… locust -f loadtest/locustfile.py --headless \\
        -u 50 -r 10 --run-time 30s --host http://127.0.0.1:8080

Environment:

* ``WARNCAST_LOCUST_ISSUER_KEY`` — an issuer key whose scope covers ``11`` (Beijing); required
  for the issuer users.
* ``WARNCAST_LOCUST_HOSTS`` — optional comma-separated base URLs (several API processes);
  each simulated user is pinned to one of them, round-robin in the order users start, the way
  a client keeps its connection to one server behind a load balancer. Without it, ``--host``.
* ``WARNCAST_LOCUST_THINK`` — mean think time in seconds of subscriber and device users
  (default 1.0; 0 makes them ask as fast as answers come). Issuers always wait 2–6 s between
  actions, so publishes stay few whatever the think time.

The mix (by user weight and task weight): most requests are inbox reads and device
acknowledgements, some are subscriber registrations and updates, few are publishes. Alerts
are Minor (blue) weather warnings for one Beijing street, so each reaches a few dozen
subscribers; every alert has its own identifier and +08:00 date-times.

Importing locust patches the standard library with gevent, so this file is only ever loaded
by the ``locust`` command in its own process — nothing in warncast imports it.
"""
from __future__ import annotations

import itertools
import os
import random
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

CST = timezone(timedelta(hours=8))
#: Streets the issuers alert and the simulated subscribers live in (GB/T 2260 township codes).
STREETS = ("110101001", "110101002", "110101003", "110101004",
           "110105001", "110105002", "110105003", "110105004")
#: What a device sends next for an inbox item in a given state; confirmed items need nothing.
NEXT_ACK = {"sent": "delivered", "delivered": "read", "read": "confirmed"}

ISSUER_KEY = os.environ.get("WARNCAST_LOCUST_ISSUER_KEY", "")
HOSTS = [h.strip().rstrip("/") for h in os.environ.get("WARNCAST_LOCUST_HOSTS", "").split(",") if h.strip()]
THINK = float(os.environ.get("WARNCAST_LOCUST_THINK", "1.0"))
_next_user = itertools.count()


def _ts(dt: datetime) -> str:
    return dt.astimezone(CST).replace(microsecond=0).isoformat()


def minor_alert(street: str) -> dict:
    """A CAP 1.2 alert in JSON form: a blue (Minor) gale warning for one street, unique identifier."""
    sent = datetime.now(CST)
    area_zh = {"areaDesc": f"街道 {street}", "geocode": [{"valueName": "GB/T 2260", "value": street}]}
    area_en = {"areaDesc": f"Street {street}", "geocode": [{"valueName": "GB/T 2260", "value": street}]}
    common = {"category": ["Met"], "urgency": "Expected", "severity": "Minor", "certainty": "Likely",
              "effective": _ts(sent), "expires": _ts(sent + timedelta(hours=1)),
              "parameter": [{"valueName": "level", "value": "blue"}]}
    return {
        "identifier": f"loadtest-{uuid.uuid4().hex}",
        "sender": "bjmb@cma.gov.cn",
        "sent": _ts(sent),
        "status": "Actual",
        "msgType": "Alert",
        "scope": "Public",
        "info": [
            {"language": "zh-CN", "event": "大风", "senderName": "北京市气象台",
             "headline": "北京市气象台发布大风蓝色预警信号", "description": "预计今天午后有5级左右偏北风，阵风7级。",
             "instruction": "请注意防范大风，远离广告牌和临时搭建物。", "area": [area_zh], **common},
            {"language": "en-US", "event": "Gale", "senderName": "Beijing Meteorological Observatory",
             "headline": "Blue gale warning", "description": "North winds of force 5, gusts of force 7, this afternoon.",
             "instruction": "Keep away from billboards and temporary structures.", "area": [area_en], **common},
        ],
    }


def registration() -> dict:
    """A subscriber as a phone app registers it: a street or a community under it, in-app only."""
    street = random.choice(STREETS)
    code = street if random.random() < 0.5 else f"{street}{random.randint(1, 30):03d}"
    return {"regions": [code], "language": "zh-CN" if random.random() < 0.85 else "en",
            "preferences": {"categories": None, "min_severity": "Minor", "quiet_hours": None}}


class _PinnedUser(FastHttpUser):
    """A user that talks to one API process for its whole life (round-robin over HOSTS)."""

    abstract = True

    def __init__(self, environment):
        if HOSTS:
            self.host = HOSTS[next(_next_user) % len(HOSTS)]
        super().__init__(environment)


class _SubscriberBase(_PinnedUser):
    abstract = True

    def on_start(self) -> None:
        self.sid: int | None = None
        self.auth: dict[str, str] = {}
        self.register()

    def register(self) -> None:
        with self.client.post("/api/v1/subscribers", json=registration(), name="/api/v1/subscribers",
                              catch_response=True) as resp:
            if resp.status_code != 201:
                resp.failure(f"register: {resp.status_code} {resp.text[:200]}")
                return
            body = resp.json()
            self.sid = body["id"]
            self.auth = {"Authorization": f"Bearer {body['token']}"}

    def read_inbox(self) -> list[dict]:
        if self.sid is None:
            self.register()
            return []
        with self.client.get("/api/v1/inbox", headers=self.auth, name="/api/v1/inbox", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"inbox: {resp.status_code} {resp.text[:200]}")
                return []
            return resp.json()["alerts"]


class Issuer(_PinnedUser):
    """A warning office: publishes a small Minor alert now and then, and watches how it is going."""

    weight = 1
    wait_time = between(2, 6)

    def on_start(self) -> None:
        if not ISSUER_KEY:
            raise RuntimeError("set WARNCAST_LOCUST_ISSUER_KEY to an issuer key scoped to 11")
        self.auth = {"Authorization": f"Bearer {ISSUER_KEY}"}
        self.published: deque[int] = deque(maxlen=20)
        self.publish()

    @task(1)
    def publish(self) -> None:
        doc = minor_alert(random.choice(STREETS))
        with self.client.post("/api/v1/alerts", json=doc, headers=self.auth, name="/api/v1/alerts",
                              catch_response=True) as resp:
            if resp.status_code != 202:
                resp.failure(f"publish: {resp.status_code} {resp.text[:200]}")
                return
            self.published.append(resp.json()["id"])

    @task(3)
    def status(self) -> None:
        if not self.published:
            return
        alert_id = random.choice(self.published)
        with self.client.get(f"/api/v1/alerts/{alert_id}", headers=self.auth, name="/api/v1/alerts/{id}",
                             catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status: {resp.status_code} {resp.text[:200]}")


class Subscriber(_SubscriberBase):
    """Someone using the app: mostly opens the inbox, sometimes changes settings; new sign-ups too."""

    weight = 3
    wait_time = between(0, 2 * THINK)

    @task(8)
    def inbox(self) -> None:
        self.read_inbox()

    @task(1)
    def update(self) -> None:
        if self.sid is None:
            return
        change = random.choice((
            {"language": random.choice(("zh-CN", "en"))},
            {"preferences": {"min_severity": "Minor",
                             "quiet_hours": random.choice((None, {"start": "23:00", "end": "06:30",
                                                                  "utc_offset": "+08:00"}))}},
            {"regions": registration()["regions"]},
        ))
        with self.client.request("PATCH", f"/api/v1/subscribers/{self.sid}", json=change, headers=self.auth,
                                 name="/api/v1/subscribers/{id}", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"update: {resp.status_code} {resp.text[:200]}")

    @task(1)
    def sign_up(self) -> None:
        """A new install: registers a fresh subscriber and carries on as it."""
        self.register()


class Device(_SubscriberBase):
    """A phone: polls the inbox and acknowledges each alert delivered, then read, then confirmed."""

    weight = 6
    wait_time = between(0, 2 * THINK)

    @task
    def poll_and_acknowledge(self) -> None:
        for item in self.read_inbox():
            status = NEXT_ACK.get(item["state"])
            if status is None:
                continue
            with self.client.post("/api/v1/receipts", json={"alert_id": item["alert_id"], "status": status},
                                  headers=self.auth, name="/api/v1/receipts", catch_response=True) as resp:
                if resp.status_code != 200:
                    resp.failure(f"receipt: {resp.status_code} {resp.text[:200]}")
                    continue
                got = resp.json()["receipts"][0]
                if "error" in got:
                    resp.failure(f"receipt: {got}")
