"""Every setting in one frozen object, read from the environment, with defaults that run."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


class SettingError(ValueError):
    """A setting from the environment that cannot be used; the message names the variable."""


def _int(name: str, default: str) -> int:
    value = _env(name, default)
    try:
        return int(value.strip())
    except ValueError:
        raise SettingError(f"{name}: expected a whole number, got {value!r}") from None


def _float(name: str, default: str) -> float:
    value = _env(name, default)
    try:
        number = float(value.strip())
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise SettingError(f"{name}: expected a number, got {value!r}")
    return number


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _pairs(value: str, setting: str = "") -> tuple[tuple[str, int], ...]:
    """"hms=5,sms=3" → (("hms", 5), ("sms", 3))."""
    out = []
    for item in _list(value):
        name, _, n = item.partition("=")
        if not n.strip().isdigit():
            raise SettingError(f"{setting + ': ' if setting else ''}expected channel=number, got {item!r}")
        out.append((name.strip(), int(n)))
    return tuple(out)


def _costs(value: str) -> tuple[tuple[str, float], ...]:
    """"sms=0.04,hms=0" → (("sms", 0.04), ("hms", 0.0)): a unit cost per message (per segment for SMS)."""
    out = []
    for item in _list(value):
        name, _, amount = item.partition("=")
        try:
            cost = float(amount)
        except ValueError:
            cost = -1.0
        if not name.strip() or not cost >= 0 or cost == float("inf"):
            raise SettingError(f"WARNCAST_COSTS: expected channel=unit cost (a number ≥ 0), got {item!r}")
        out.append((name.strip(), cost))
    return tuple(out)


def _budgets(value: str) -> tuple[tuple[str, float, float | None], ...]:
    """"bjmb=500:800,chaoyang=100" → ((org, soft, hard or None), …): monthly budgets per organisation."""
    out = []
    for item in _list(value):
        org, _, limits = item.rpartition("=")
        soft, _, hard = limits.partition(":")
        try:
            pair = (float(soft), float(hard) if hard else None)
        except ValueError:
            pair = (-1.0, None)
        if not org.strip() or pair[0] < 0 or (pair[1] is not None and pair[1] < pair[0]):
            raise SettingError(f"WARNCAST_COST_BUDGETS: expected organisation=soft[:hard] (numbers, hard ≥ soft), "
                             f"got {item!r}")
        out.append((org.strip(), *pair))
    return tuple(out)


def _sentinels(value: str) -> tuple[tuple[str, int], ...]:
    """"10.0.0.1:26379,10.0.0.2:26379" → ((host, port), …)."""
    out = []
    for item in _list(value):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise SettingError(f"WARNCAST_SENTINELS: expected host:port, got {item!r}")
        out.append((host, int(port)))
    return tuple(out)


def _follows(value: str) -> tuple[tuple[str, str], ...]:
    """"https://a/feed.atom=bjmb,https://b/rss=chaoyang" → ((url, issuer), …) (split at the last '=')."""
    out = []
    for item in _list(value):
        url, sep, issuer = item.rpartition("=")
        if not sep or not url.startswith(("http://", "https://")) or not issuer.strip():
            raise SettingError(f"WARNCAST_FOLLOW: expected URL=issuer, got {item!r}")
        out.append((url.strip(), issuer.strip()))
    return tuple(out)


def _secrets(value: str) -> tuple[tuple[str, str], ...]:
    """"platform=key,other=key2" → (("platform", "key"), …); the key is never echoed in an error."""
    out = []
    for item in _list(value):
        name, sep, key = item.partition("=")
        if not sep or not name.strip() or len(key.strip()) < 16:
            raise SettingError(f"WARNCAST_SENSOR_KEYS: expected platform=key (a key of 16+ characters) "
                             f"for {name.strip() or 'an entry'}")
        out.append((name.strip(), key.strip()))
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    #: Redis to use; empty means start the embedded one under ``data_dir``.
    redis_url: str = ""
    #: Redis Sentinel addresses ("host:port,host:port") and the monitored service name; when set,
    #: the master is found through them (REDIS_URL then only gives the database and password).
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_service: str = "warncast"
    #: Where the embedded Redis keeps its AOF and dump files.
    data_dir: Path = Path("var")
    #: Subscriber ids per shard: one fan-out job and one slice of every index.
    shard_size: int = 32_768
    #: API listen address (loopback unless the operator opens it).
    host: str = "127.0.0.1"
    port: int = 8080
    #: Fan-out jobs run concurrently by the in-process pool; 0 = leave them to `warncast worker`.
    workers: int = 4
    #: Downstream systems that receive every fanned-out alert as CAP XML.
    webhook_urls: tuple[str, ...] = ()
    #: What they receive: "cap" (the CAP XML) or "json" (short text from templates/webhook).
    webhook_format: str = "cap"
    webhook_language: str = "zh-CN"
    #: Bootstrap admin key (optional); otherwise create keys with `warncast keys create`.
    admin_key: str = field(default="", repr=False)
    #: Largest request body accepted by the intake and import endpoints.
    max_body_bytes: int = 1 << 20
    max_import_bytes: int = 256 << 20
    #: Issuer signature prepended to SMS text, e.g. 【北京市预警信息发布中心】.
    sms_signature: str = "北京市预警信息发布中心"
    #: Alerts older than this are dropped from inbox listings (seconds).
    inbox_window_s: int = 7 * 86_400
    #: Provider channels to enable besides in-app (hms, fcm, apns, webpush, sms).
    channels: tuple[str, ...] = ()
    #: How SMS goes out: "http" (batched gateway API) or "smpp" (SMPP 3.4 transceiver).
    sms_transport: str = "http"
    #: Attempts per send on one channel before the subscriber fails over ("hms=5,sms=3" per channel).
    max_attempts: int = 4
    max_attempts_by_channel: tuple[tuple[str, int], ...] = ()
    #: Retry waits up to this long happen in place; longer ones go to the retry schedule (s).
    retry_in_place_max_s: float = 2.0
    #: Times a shard's retries may be put off to the schedule before they fail over.
    max_retry_rounds: int = 5
    #: Provider quotas in messages per second ("sms=2000,hms=50000"); default: each adapter's own.
    rate_limits: tuple[tuple[str, int], ...] = ()
    #: A shard job's lease: if its worker dies, another takes the shard over after this long (s).
    lease_s: float = 10.0
    #: Actual alerts of these severities wait for an operator's approval before fan-out.
    approval_severities: tuple[str, ...] = ()
    #: Longest SMS text in segments (the same WARNCAST_SMS_MAX_PARTS the SMS adapters read): texts are
    #: shortened to fit it when rendered.
    sms_max_parts: int = 4
    #: Failed authentications one client address may make per window before it is refused (429).
    auth_failure_burst: int = 20
    auth_failure_window_s: int = 60
    #: Recipients one fan-out step hands to a channel at most (bounded by the channel's own batch size).
    send_chunk: int = 4_096
    #: The address the public reaches this installation at (Atom feed links); default http://host:port.
    public_url: str = ""
    #: Per-alert limits, counted over all its info blocks: areas, geocodes, polygon points, circles.
    max_areas: int = 200
    max_geocodes: int = 2_000
    max_polygon_points: int = 20_000
    max_circles: int = 200
    #: JSON file: issuer identity → trusted certificates (PEM files) and whether a signature is required.
    signers_file: str = ""
    #: PEM key and certificate warncast signs the CAP it publishes with (both, or neither).
    signing_key_file: str = field(default="", repr=False)
    signing_cert_file: str = ""
    #: Upstream CAP feeds `serve` follows, each with the issuer (key name) it publishes as:
    #: "URL=issuer,URL=issuer".
    follow: tuple[tuple[str, str], ...] = ()
    #: Seconds between polls of a followed feed (doubled after each failure, up to 5 minutes).
    follow_interval_s: float = 30.0

    #: Open registrations (POST /api/v1/subscribers) one client address may make per window; 0 = no limit.
    registration_limit: int = 60
    registration_window_s: int = 600
    #: Event streams (inbox, alert progress) one key or subscriber token may hold open; 0 = no limit.
    stream_limit: int = 5
    #: An alert's progress stream ends after this long (s) with a final "closed" event.
    stream_max_s: float = 3600.0
    #: What one message costs per channel (per segment for SMS; smpp costs what sms does unless given).
    costs: tuple[tuple[str, float], ...] = (("sms", 0.04), ("hms", 0.0), ("fcm", 0.0), ("apns", 0.0),
                                            ("webpush", 0.0))
    cost_currency: str = "CNY"
    #: Monthly budgets per organisation, in the currency: (org, soft limit, hard limit or None). Over the
    #: soft limit the issuer is warned and an audit entry written; over the hard limit SMS stops for all
    #: but top-tier alerts (Actual, Extreme, Immediate).
    cost_budgets: tuple[tuple[str, float, float | None], ...] = ()
    #: A console session ends after this long without a request (s); signing in again starts a new one.
    console_session_s: int = 8 * 3600
    #: The live dashboard reads the alerts once per tick for every open dashboard (s), keeps this much
    #: sends-per-second history (s), shows this many recent alerts besides pending fan-outs, and lets
    #: this many dashboards connect to one server process at once.
    live_tick_s: float = 0.5
    live_history_s: float = 300.0
    live_recent_alerts: int = 8
    live_streams: int = 100

    #: IoT platforms allowed to post sensor events, each with its HMAC-SHA256 key: "platform=key,…".
    sensor_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: A signed sensor batch is refused when its timestamp is further than this from now (s); its
    #: batch id is remembered this long, so a replay inside the window is refused too.
    sensor_window_s: int = 300
    #: Most events one sensor batch may carry.
    sensor_batch_max: int = 1_000
    #: The organisation and CAP sender sensor alarms are issued as.
    sensor_org: str = "sensors"
    sensor_sender: str = "sensors@warncast"
    #: How often the serve process looks for due escalations and undelivered Private alerts (s).
    escalation_poll_s: float = 1.0
    #: Where the composer's warning-signal templates are (one JSON file per signal); empty = the shipped ones.
    signal_templates_dir: str = ""

    @classmethod
    def from_env(cls) -> "Settings":
        """Build settings from WARNCAST_* variables (and REDIS_URL)."""
        return cls(
            redis_url=os.environ.get("REDIS_URL", os.environ.get("WARNCAST_REDIS_URL", "")),
            data_dir=Path(_env("WARNCAST_DATA_DIR", "var")),
            sentinels=_sentinels(_env("WARNCAST_SENTINELS", "")),
            sentinel_service=_env("WARNCAST_SENTINEL_SERVICE", "warncast"),
            shard_size=_int("WARNCAST_SHARD_SIZE", "32768"),
            host=_env("WARNCAST_HOST", "127.0.0.1"),
            port=_int("WARNCAST_PORT", "8080"),
            workers=_int("WARNCAST_WORKERS", "4"),
            webhook_urls=_list(_env("WARNCAST_WEBHOOK_URLS", "")),
            webhook_format=_env("WARNCAST_WEBHOOK_FORMAT", "cap"),
            webhook_language=_env("WARNCAST_WEBHOOK_LANGUAGE", "zh-CN"),
            admin_key=_env("WARNCAST_ADMIN_KEY", ""),
            max_body_bytes=_int("WARNCAST_MAX_BODY_BYTES", str(1 << 20)),
            max_import_bytes=_int("WARNCAST_MAX_IMPORT_BYTES", str(256 << 20)),
            sms_signature=_env("WARNCAST_SMS_SIGNATURE", "北京市预警信息发布中心"),
            inbox_window_s=_int("WARNCAST_INBOX_WINDOW_S", str(7 * 86_400)),
            send_chunk=_int("WARNCAST_SEND_CHUNK", "4096"),
            sms_max_parts=_int("WARNCAST_SMS_MAX_PARTS", "4"),
            auth_failure_burst=_int("WARNCAST_AUTH_FAILURE_BURST", "20"),
            auth_failure_window_s=_int("WARNCAST_AUTH_FAILURE_WINDOW_S", "60"),
            approval_severities=_list(_env("WARNCAST_APPROVAL_SEVERITIES", "")),
            channels=_list(_env("WARNCAST_CHANNELS", "")),
            lease_s=_float("WARNCAST_LEASE_S", "10"),
            max_attempts=_int("WARNCAST_MAX_ATTEMPTS", "4"),
            max_attempts_by_channel=_pairs(_env("WARNCAST_MAX_ATTEMPTS_BY_CHANNEL", ""), "WARNCAST_MAX_ATTEMPTS_BY_CHANNEL"),
            retry_in_place_max_s=_float("WARNCAST_RETRY_IN_PLACE_MAX_S", "2"),
            max_retry_rounds=_int("WARNCAST_MAX_RETRY_ROUNDS", "5"),
            rate_limits=_pairs(_env("WARNCAST_RATE_LIMITS", ""), "WARNCAST_RATE_LIMITS"),
            sms_transport=_env("WARNCAST_SMS_TRANSPORT", "http"),
            registration_limit=_int("WARNCAST_REGISTRATION_LIMIT", "60"),
            registration_window_s=_int("WARNCAST_REGISTRATION_WINDOW_S", "600"),
            stream_limit=_int("WARNCAST_STREAM_LIMIT", "5"),
            stream_max_s=_float("WARNCAST_STREAM_MAX_S", "3600"),
            console_session_s=_int("WARNCAST_CONSOLE_SESSION_S", str(8 * 3600)),
            live_tick_s=_float("WARNCAST_LIVE_TICK_S", "0.5"),
            live_history_s=_float("WARNCAST_LIVE_HISTORY_S", "300"),
            live_recent_alerts=_int("WARNCAST_LIVE_RECENT_ALERTS", "8"),
            live_streams=_int("WARNCAST_LIVE_STREAMS", "100"),
            signal_templates_dir=_env("WARNCAST_SIGNAL_TEMPLATES_DIR", ""),
            public_url=_env("WARNCAST_PUBLIC_URL", "").rstrip("/"),
            max_areas=_int("WARNCAST_MAX_AREAS", "200"),
            max_geocodes=_int("WARNCAST_MAX_GEOCODES", "2000"),
            max_polygon_points=_int("WARNCAST_MAX_POLYGON_POINTS", "20000"),
            max_circles=_int("WARNCAST_MAX_CIRCLES", "200"),
            signers_file=_env("WARNCAST_SIGNERS_FILE", ""),
            signing_key_file=_env("WARNCAST_SIGNING_KEY_FILE", ""),
            signing_cert_file=_env("WARNCAST_SIGNING_CERT_FILE", ""),
            follow=_follows(_env("WARNCAST_FOLLOW", "")),
            follow_interval_s=_float("WARNCAST_FOLLOW_INTERVAL_S", "30"),
            costs=_costs(_env("WARNCAST_COSTS", "sms=0.04,hms=0,fcm=0,apns=0,webpush=0")),
            cost_currency=_env("WARNCAST_COST_CURRENCY", "CNY"),
            cost_budgets=_budgets(_env("WARNCAST_COST_BUDGETS", "")),
            sensor_keys=_secrets(_env("WARNCAST_SENSOR_KEYS", "")),
            sensor_window_s=_int("WARNCAST_SENSOR_WINDOW_S", "300"),
            sensor_batch_max=_int("WARNCAST_SENSOR_BATCH_MAX", "1000"),
            sensor_org=_env("WARNCAST_SENSOR_ORG", "sensors"),
            sensor_sender=_env("WARNCAST_SENSOR_SENDER", "sensors@warncast"),
            escalation_poll_s=_float("WARNCAST_ESCALATION_POLL_S", "1"),
        )

    def public_base(self) -> str:
        """Base of every public link: WARNCAST_PUBLIC_URL, else the listen address (never a request's Host)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def attempts_for(self, channel: str) -> int:
        return dict(self.max_attempts_by_channel).get(channel, self.max_attempts)

    def public(self) -> dict[str, object]:
        """Settings safe to show an operator (no secrets)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if f.repr}
