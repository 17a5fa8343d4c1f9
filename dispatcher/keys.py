"""Every Redis key warncast uses, in one place.

Keys of one shard carry the hash tag ``{s<n>}`` and keys of one alert the tag
``{a<id>}``, so that on Redis Cluster a shard job's reads and writes stay in
one slot and an alert's counters in another.
"""
from __future__ import annotations

PREFIX = "wc"

# -- global ---------------------------------------------------------------
SUBSCRIBER_SEQ = f"{PREFIX}:sub:seq"            #: INCR → next dense subscriber id
SUBSCRIBER_EXTERNAL = f"{PREFIX}:sub:external"  #: hash an operator's external_id → subscriber id
ALERT_SEQ = f"{PREFIX}:alert:seq"               #: INCR → next alert id
ALERT_INDEX = f"{PREFIX}:alerts"                #: zset alert id → accepted time (s)
ALERT_IDENTITY = f"{PREFIX}:alerts:identity"    #: hash "<org>|sender,identifier,sent" → alert id (per organisation)
ALERT_REFERENCE = f"{PREFIX}:alerts:reference"  #: hash "sender,identifier,sent" → first alert id stored with it
ACTIVE_ALERTS = f"{PREFIX}:alerts:active"       #: zset alert id → expires (s); for inbox and feed
FANOUT_PENDING = f"{PREFIX}:fanout:pending"     #: set of alert ids whose fan-out has not finished
API_KEYS = f"{PREFIX}:apikeys"                  #: hash sha256(secret) → key id (only live keys)
API_KEY_SEQ = f"{PREFIX}:apikey:seq"            #: INCR → next key id
API_KEY_IDS = f"{PREFIX}:apikey:ids"            #: zset key id → created (s), revoked keys included
SENDERS = f"{PREFIX}:senders"                   #: hash CAP sender → organisation that owns it
AUDIT = f"{PREFIX}:audit"                       #: capped stream: who did what, when, from where
LIFECYCLE_LOG = f"{PREFIX}:lifecycle-log"       #: capped stream of every alert lifecycle transition
APPROVAL_RULE = f"{PREFIX}:approval-rule"         #: the approval severities the last process started with
APPROVAL_RULES = f"{PREFIX}:approval-rules"       #: JSON: the approval rules an operator saved (see approval_rules)
DRAFT_SEQ = f"{PREFIX}:draft:seq"               #: INCR → next console draft id
DRAFT_INDEX = f"{PREFIX}:drafts"                #: zset draft id → last change (s)
DRAFTS_PENDING = f"{PREFIX}:drafts:pending"     #: zset draft id → submitted (s): waiting for approval
AUTH_FAILURES = f"{PREFIX}:authfail"            #: prefix: per-client-address failed-authentication counters
INAPP_CHANNEL = f"{PREFIX}:inapp"               #: pub/sub: in-app deliveries for live streams
RETRY_SCHEDULE = f"{PREFIX}:retries"           #: zset "<alert>:<shard>" → when its queued retries are due
RECEIPT_CHECKS = f"{PREFIX}:receipt-checks"    #: zset "<alert>:<shard>:<channel id>" → when receipts are overdue
TOTALS = f"{PREFIX}:totals"                    #: hash "<channel>:<state>" → transitions over all alerts
LATENCY_TOTALS = f"{PREFIX}:latency"           #: hash "<channel>:<state>:<bucket µs>" → count over all alerts
COST_TOTALS = f"{PREFIX}:cost:totals"          #: hash channel → cost units (messages; SMS segments) over all alerts


def shard_tag(shard: int) -> str:
    return f"{{s{shard}}}"


def alert_tag(alert_id: int) -> str:
    return f"{{a{alert_id}}}"


def api_key(key_id: int) -> str:
    """hash: name, role, scopes, org, senders (JSON), created, revoked, rotated, digest."""
    return f"{PREFIX}:apikey:{key_id}"


def alerts_of(org: str) -> str:
    """zset alert id → accepted time (s): the alerts one organisation issued."""
    return f"{PREFIX}:alerts:org:{org}"


def console_session(sid_digest: str) -> str:
    """hash: key_id, name, role, org, csrf, created, seen, admin; expires after the idle time.
    Named by the SHA-256 of the session id, so what Redis holds cannot be used as a cookie."""
    return f"{PREFIX}:console:session:{sid_digest}"


def draft(draft_id: int) -> str:
    """hash: state, org, version (current), created, updated, alert_id, approved_by, rejection (JSON)."""
    return f"{PREFIX}:draft:{{d{draft_id}}}"


def draft_versions(draft_id: int) -> str:
    """hash version number → JSON {form, author: {key_id, name, org}, at}; every version kept."""
    return f"{PREFIX}:draft:{{d{draft_id}}}:versions"


def draft_log(draft_id: int) -> str:
    """list of JSON events, oldest first: each transition of the draft, written with it."""
    return f"{PREFIX}:draft:{{d{draft_id}}}:log"


def drafts_of(org: str) -> str:
    """zset draft id → last change (s): one organisation's drafts."""
    return f"{PREFIX}:drafts:org:{org}"


def auth_failures(client: str) -> str:
    """Counter of failed authentications from one client address; expires with its window."""
    return f"{AUTH_FAILURES}:{client}"


# -- per shard ------------------------------------------------------------
def records(shard: int) -> str:
    """hash offset → subscriber record (JSON)."""
    return f"{PREFIX}:{shard_tag(shard)}:rec"


def column(shard: int, name: str) -> str:
    """Fixed-width column string: one cell per offset (see subscribers.columns)."""
    return f"{PREFIX}:{shard_tag(shard)}:col:{name}"


def endpoints(shard: int, channel: str) -> str:
    """hash offset → endpoint (token, phone, subscription JSON) for one channel."""
    return f"{PREFIX}:{shard_tag(shard)}:ep:{channel}"


def geo_cell(shard: int, cell: str) -> str:
    """set of offsets located in one H3 cell."""
    return f"{PREFIX}:{shard_tag(shard)}:h3:{cell}"


def delivery_state(shard: int, alert_id: int) -> str:
    """One byte per offset: the subscriber's delivery state for this alert."""
    return f"{PREFIX}:{shard_tag(shard)}:dst:{alert_id}"


def delivery_channel(shard: int, alert_id: int) -> str:
    """One byte per offset: index of the channel the subscriber was sent on."""
    return f"{PREFIX}:{shard_tag(shard)}:dch:{alert_id}"


def failed_channels(shard: int, alert_id: int) -> str:
    """hash offset → comma-separated channels the subscriber failed over from, in order."""
    return f"{PREFIX}:{shard_tag(shard)}:fo:{alert_id}"


def failure_reasons(shard: int, alert_id: int) -> str:
    """hash offset → comma-separated "<channel>:<reason>" of each failover, in order (the drill-down)."""
    return f"{PREFIX}:{shard_tag(shard)}:fr:{alert_id}"


def shard_lease(shard: int, alert_id: int) -> str:
    """Held (owner, with a TTL renewed every batch) by the worker running this shard job."""
    return f"{PREFIX}:{shard_tag(shard)}:lease:{alert_id}"


def shard_queued(shard: int, alert_id: int) -> str:
    """Set while this shard job waits in a queue (cleared when a worker takes it)."""
    return f"{PREFIX}:{shard_tag(shard)}:queued:{alert_id}"


def retry_rounds(alert_id: int) -> str:
    """hash shard → how many times that shard's retries were put off to the schedule."""
    return f"{PREFIX}:{alert_tag(alert_id)}:rounds"


# -- per alert ------------------------------------------------------------
def alert(alert_id: int) -> str:
    """hash: cap (JSON), xml, status fields, timestamps."""
    return f"{PREFIX}:{alert_tag(alert_id)}:alert"


def cost_units(alert_id: int) -> str:
    """Hash channel → cost units the alert incurred (messages accepted; SMS: segments accepted)."""
    return f"{PREFIX}:{alert_tag(alert_id)}:cost"


def cost_month(org: str, month: str) -> str:
    """Hash channel → cost units an organisation's alerts incurred in a month ("202612", UTC)."""
    return f"{PREFIX}:cost:{org}:{month}"


def counters(alert_id: int) -> str:
    """hash "<channel>:<state>" → count."""
    return f"{PREFIX}:{alert_tag(alert_id)}:cnt"


def latency(alert_id: int) -> str:
    """hash "<channel>:<state>:<bucket lower bound µs>" → count (latency from acceptance, latency.py)."""
    return f"{PREFIX}:{alert_tag(alert_id)}:lat-us"


def alert_shards(alert_id: int) -> str:
    """set of shards still to fan out for this alert."""
    return f"{PREFIX}:{alert_tag(alert_id)}:shards"



def provider_messages(channel: str, day: int) -> str:
    """hash provider message id → "<alert>:<subscriber>" for the messages accepted on one day (UTC
    day number), for receipt correlation; each day's hash expires after three days."""
    return f"{PREFIX}:pmid:{channel}:{day}"


# -- geo ------------------------------------------------------------------
# The per-(shard, cell) sets of offsets are ``geo_cell`` above, one set per indexed
# H3 resolution (the resolution is part of the cell id). See subscribers.geo.
def geo_coords(shard: int) -> str:
    """Fixed-width column string: 8 bytes per offset, little-endian int32 lat, lon in 1e-7 degrees."""
    return f"{PREFIX}:{shard_tag(shard)}:geo:ll"


def geo_cell_prefix(shard: int) -> str:
    """``geo_cell(shard, cell) == geo_cell_prefix(shard) + cell`` (builds many keys fast)."""
    return geo_cell(shard, "")


# -- rate limits and circuits ---------------------------------------------
# Circuit keys share the hash tag ``{cb}`` so a circuit's hash and the index of
# providers that have one stay in one slot (one script touches both).
CIRCUIT_INDEX = f"{PREFIX}:{{cb}}:providers"    #: set of providers that have a circuit hash


def rate_limit(provider: str) -> str:
    """Theoretical arrival time (µs, Redis server clock) of the provider's next free send; expires when idle."""
    return f"{PREFIX}:rl:{provider}"


def circuit(provider: str) -> str:
    """hash: state, changed_at, probe_at, opened, closed, and window buckets "s:<n>" / "f:<n>"."""
    return f"{PREFIX}:{{cb}}:{provider}"


# -- abuse and replay guards ------------------------------------------------
SECURITY_COUNTERS = f"{PREFIX}:security"        #: hash event → count (receipt replays, refused registrations, …)


def receipt_reports(channel: str, day: int) -> str:
    """hash "<message id>:<status>" → 1 for the delivery reports taken on one UTC day (expires after
    three days); a report already there is a replay."""
    return f"{PREFIX}:reports:{channel}:{day}"


def registrations(client: str) -> str:
    """Open registrations from one client address in the current window (expires with it)."""
    return f"{PREFIX}:reglimit:{client}"


def sms_verification(sid: int) -> str:
    """hash: number and channels waiting for verification, code digest, expires_at, attempts, sent_at."""
    return f"{PREFIX}:smsverify:{sid}"


def stream_slots(who: str) -> str:
    """zset stream id → last heartbeat (s) of the event streams one credential holds open."""
    return f"{PREFIX}:streams:{who}"


def sms_codes_sent(number: str) -> str:
    """Verification codes sent to one number this hour (expires with it)."""
    return f"{PREFIX}:smscodes:{number}"


# -- shelters -------------------------------------------------------------
SHELTER_SEQ = f"{PREFIX}:shelter:seq"           #: INCR → next shelter id
SHELTERS = f"{PREFIX}:shelters"                 #: hash shelter id → JSON record (see dispatcher.shelters)
SHELTER_EXTERNAL = f"{PREFIX}:shelters:ext"     #: hash external id → shelter id (repeatable imports)
SHELTER_VERSION = f"{PREFIX}:shelters:version"  #: INCR on every change; caches of the registry compare it


# -- following upstream feeds ----------------------------------------------
def _feed_id(url: str) -> str:
    import hashlib
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def follow_state(url: str) -> str:
    """hash: etag, modified (the upstream index's validators for conditional GETs)."""
    return f"{PREFIX}:follow:{_feed_id(url)}:state"


def follow_seen(url: str) -> str:
    """set of entry links already handled (dispatched, skipped or refused): nothing twice, even after a restart."""
    return f"{PREFIX}:follow:{_feed_id(url)}:seen"


# -- households, devices, sensors, groups (Private and Restricted alerts) ---
HOUSEHOLD_SEQ = f"{PREFIX}:household:seq"       #: INCR → next household id
HOUSEHOLDS = f"{PREFIX}:households"             #: hash household id → JSON record (see dispatcher.households)
HOUSEHOLD_EXTERNAL = f"{PREFIX}:households:ext"  #: hash external id → household id (repeatable imports)
DEVICES = f"{PREFIX}:devices"                   #: hash device id → JSON record (see dispatcher.devices)
GROUPS = f"{PREFIX}:groups"                     #: set of group names (Restricted alerts' ``restriction``)
ESCALATIONS = f"{PREFIX}:escalations"           #: zset household alarm (root alert id) → when its next step is due
PRIVATE_PENDING = f"{PREFIX}:private:pending"   #: zset Private alert id → accepted time, until it was delivered


def group(name: str) -> str:
    """set of the subscriber ids in one operator-managed group."""
    return f"{PREFIX}:group:{name}"


def incident(device_id: str) -> str:
    """hash: level, alert (root alert id), last (latest alert id), value: a device's open incident."""
    return f"{PREFIX}:incident:{device_id}"


def escalation(alert_id: int) -> str:
    """hash: household, step, last (latest alert id), due, done: the escalation of one household alarm."""
    return f"{PREFIX}:{alert_tag(alert_id)}:escalation"


def addressed(alert_id: int) -> str:
    """hash subscriber id → delivery state (one byte value) and "<id>:ch" → channels sent on, for a
    Private alert (its audience is a handful of addressees, not a shard)."""
    return f"{PREFIX}:{alert_tag(alert_id)}:addressed"


def sensor_batch(platform: str, batch_id: str) -> str:
    """Set while a signed sensor batch id is inside the replay window (a second one is a replay)."""
    return f"{PREFIX}:sensorbatch:{platform}:{batch_id}"
