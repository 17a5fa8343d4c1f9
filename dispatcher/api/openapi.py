"""The OpenAPI 3.1 document served at /api/v1/openapi.json."""
from __future__ import annotations


def _op(summary: str, tag: str, responses: dict[str, str], *, security: bool = True, body: str | None = None,
        params: list[dict] | None = None) -> dict:
    op: dict = {"summary": summary, "tags": [tag],
                "responses": {code: {"description": d} for code, d in responses.items()}}
    if not security:
        op["security"] = []
    if body:
        op["requestBody"] = {"required": True, "content": {ct: {"schema": {"type": "string" if "json" not in ct
                                                                           else "object"}}
                                                           for ct in body.split(",")}}
    if params:
        op["parameters"] = params
    return op


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
ERR = {"400": "malformed input; errors list each field", "401": "no or unknown credentials",
       "403": "not allowed (reason given)", "404": "not found"}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "warncast", "version": "1",
             "description": "Mass early-warning dispatcher: CAP 1.2 alerts to every subscriber concerned."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "API key (wk_…) or a subscriber token"}},
        "schemas": {"Error": {"type": "object", "properties": {
            "error": {"type": "string"},
            "errors_omitted": {"type": "integer"},
            "warnings": {"type": "array", "items": {"type": "object"}},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string"}, "field": {"type": "string"}, "message": {"type": "string"}}}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/alerts": {
            "post": _op("Publish a CAP 1.2 alert (XML or JSON)", "issuer",
                        {"202": "accepted; id and links", "200": "identical resubmission; the existing alert",
                         **ERR, "409": "same sender,identifier,sent with other content", "413": "body over 1 MiB, or over a per-alert limit (areas, geocodes, points, circles)",
                         "415": "unsupported media type", "422": "CAP rule broken; errors name each element path"},
                        body="application/cap+xml,application/json"),
            "get": _op("List alerts (an issuer sees its own)", "issuer", {"200": "alerts", **ERR}),
        },
        "/api/v1/alerts:validate": {"post": _op(
            "Check a CAP document as publishing would, without storing or sending it; with the audience estimate",
            "issuer", {"200": "valid, errors, warnings and (when valid) the estimate", **ERR,
                       "413": "body over the limit", "415": "unsupported media type"},
            body="application/cap+xml,application/json")},
        "/api/v1/alerts/{id}": {"get": _op("An alert with its delivery stats", "issuer", {"200": "alert", **ERR},
                                           params=[ID])},
        "/api/v1/alerts/{id}.xml": {"get": _op("The alert as CAP 1.2 XML", "issuer", {"200": "CAP XML", **ERR},
                                               params=[ID])},
        "/api/v1/alerts/{id}/deliveries": {"get": _op(
            "Per-subscriber delivery states", "issuer", {"200": "page of deliveries", **ERR},
            params=[ID, {"name": "state", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "cursor", "in": "query", "schema": {"type": "integer"}}])},
        "/api/v1/alerts/{id}/events": {"get": _op("Server-sent progress events", "issuer",
                                                  {"200": "text/event-stream", **ERR}, params=[ID])},
        "/api/v1/alerts/{id}/approve": {"post": _op("Approve a held alert (operator)", "operator",
                                                    {"202": "fan-out started", **ERR, "409": "not held"},
                                                    params=[ID])},
        "/api/v1/alerts/{id}/reject": {"post": _op("Reject a held alert with a reason the issuer sees (operator)",
                                                   "operator", {"200": "rejected; never sent", **ERR,
                                                                "409": "not held"},
                                                   params=[ID], body="application/json")},
        "/api/v1/alerts/{id}/cancel": {"post": _op("Cancel an alert (issues a CAP Cancel)", "issuer",
                                                   {"202": "cancel accepted", **ERR, "422": "cannot cancel"},
                                                   params=[ID])},
        "/api/v1/subscribers": {"post": _op("Register a subscriber; returns its token once (an SMS number waits "
                                            "for verification)", "subscriber",
                                            {"201": "created", "422": "invalid fields named",
                                             "429": "too many registrations from this address"}, security=False,
                                            body="application/json")},
        "/api/v1/subscribers/{id}/sms:verify": {"post": _op(
            "Send a one-time code to the SMS number waiting for verification ({}), or confirm it "
            "({\"code\": \"123456\"})", "subscriber",
            {"200": "verified", "202": "code sent", **ERR, "409": "SMS channel off", "422": "wrong or expired code",
             "429": "asked too often", "503": "gateway did not take the code"}, params=[ID], body="application/json")},
        "/api/v1/subscribers/{id}": {
            "get": _op("Read a subscriber (own token or operator)", "subscriber", {"200": "subscriber", **ERR},
                       params=[ID]),
            "patch": _op("Change a subscriber", "subscriber", {"200": "subscriber", **ERR, "422": "invalid"},
                         params=[ID], body="application/json"),
            "delete": _op("Delete a subscriber and every index entry", "subscriber", {"204": "deleted", **ERR},
                          params=[ID]),
        },
        "/api/v1/subscribers/{id}/location": {"put": _op("Move a subscriber's location", "subscriber",
                                                         {"200": "moved", **ERR, "422": "invalid"},
                                                         params=[ID], body="application/json")},
        "/api/v1/subscribers:import": {"post": _op("Bulk import (NDJSON or CSV); all or nothing", "operator",
                                                   {"200": "imported", **ERR, "422": "bad lines; nothing imported"},
                                                   body="application/x-ndjson,text/csv")},
        "/api/v1/inbox": {"get": _op("The subscriber's alerts", "subscriber", {"200": "inbox", **ERR})},
        "/api/v1/inbox/stream": {"get": _op("Live in-app alerts (SSE)", "subscriber",
                                            {"200": "text/event-stream", **ERR})},
        "/api/v1/receipts": {"post": _op("Device acknowledgements: delivered / read / confirmed", "subscriber",
                                         {"200": "states after the receipts", **ERR}, body="application/json")},
        "/api/v1/stats": {"get": _op("Delivery totals and recent alerts", "operator", {"200": "stats", **ERR})},
        "/ops": {"get": _op("Moved: the console (302 to /console)", "operator", {"302": "to /console"},
                            security=False)},
        "/metrics": {"get": _op("Prometheus metrics", "operator", {"200": "text exposition", **ERR})},
        "/healthz": {"get": _op("Liveness", "operator", {"200": "ok"}, security=False)},
        "/readyz": {"get": _op("Readiness (Redis reachable)", "operator", {"200": "ok", "503": "not ready"},
                               security=False)},
        "/cap/feed.atom": {"get": _op("Active public alerts as an RFC 4287 Atom feed, newest first, paged",
                                      "public", {"200": "Atom", "400": "bad limit or before"}, security=False,
                                      params=[{"name": "limit", "in": "query", "schema": {"type": "integer"}},
                                              {"name": "before", "in": "query", "schema": {"type": "integer"}}])},
        "/cap/alerts/{id}.xml": {"get": _op("A public alert's CAP 1.2 XML (404 for anything not public)", "public",
                                            {"200": "CAP XML", "404": "not a public alert"}, security=False,
                                            params=[ID])},
        "/callbacks/sms": {"post": _op("SMS delivery reports, signed with the callback secret (mounted when the "
                                       "SMS channel uses the HTTP gateway)", "provider",
                                       {"200": "recorded (replays counted, not applied)",
                                        "400": "X-Timestamp not a finite unix time", "401": "unsigned, forged or stale",
                                        "404": "SMS channel off"}, security=False)},
        "/api/v1/openapi.json": {"get": _op("This document", "public", {"200": "OpenAPI"}, security=False)},
    },
}


# -- access: keys, delegation, the audit trail --------------------------------
_KEY_BODY = {"type": "object", "required": ["name", "role"], "properties": {
    "name": {"type": "string"}, "role": {"type": "string", "enum": ["issuer", "operator", "admin"]},
    "scopes": {"type": "array", "items": {"type": "string"}}, "org": {"type": "string"},
    "senders": {"type": "array", "items": {"type": "string"}}}}


def _json_body(op: dict, schema: dict) -> dict:
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}
OPENAPI["paths"]["/api/v1/alerts"]["get"]["parameters"] = [_LIMIT]
OPENAPI["paths"].update({
    "/api/v1/alerts/{id}/delegate": {"post": _json_body(_op(
        "Let another organisation update or cancel an alert (operator)", "operator",
        {"200": "the alert, with its delegates", **ERR}, params=[ID]),
        {"type": "object", "required": ["org"], "properties": {"org": {"type": "string"}}})},
    "/api/v1/keys": {
        "get": _op("API keys, revoked ones included; never their secrets (admin)", "admin", {"200": "keys", **ERR}),
        "post": _json_body(_op("Create an API key; its secret is in this answer only (admin)", "admin",
                               {"201": "the key and its secret", **ERR}), _KEY_BODY),
    },
    "/api/v1/keys/{id}/revoke": {"post": _op("Revoke a key: refused from now on by every process (admin)", "admin",
                                             {"200": "the key", **ERR, "409": "already revoked"}, params=[ID])},
    "/api/v1/keys/{id}/rotate": {"post": _op("A new secret for a key; the old one is refused (admin)", "admin",
                                             {"200": "the key and its new secret", **ERR, "409": "revoked"},
                                             params=[ID])},
    "/api/v1/audit": {"get": _op(
        "The audit trail, newest first (operator)", "operator", {"200": "entries and next_cursor", **ERR},
        params=[{"name": "action", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}}])},
})


# -- shelters ---------------------------------------------------------------
OPENAPI["paths"].update({
    "/api/v1/shelters": {
        "get": _op("List shelters (operator); ?district= ?status=open|closed", "operator", {"200": "shelters", **ERR},
                   params=[{"name": "district", "in": "query", "schema": {"type": "string"}},
                           {"name": "status", "in": "query", "schema": {"type": "string"}}]),
        "post": _op("Add a shelter (operator)", "operator", {"201": "created", **ERR}, body="application/json"),
    },
    "/api/v1/shelters:import": {"post": _op("Import shelters from CSV or GeoJSON; all or nothing", "operator",
                                            {"200": "imported", **ERR, "422": "bad records named; nothing imported"},
                                            body="text/csv,application/geo+json")},
    "/api/v1/shelters:status": {"post": _op("Open or close shelters in bulk: by ids, or every one in an alert's area",
                                            "operator", {"200": "changed ids", **ERR}, body="application/json")},
    "/api/v1/shelters/nearest": {"get": _op(
        "Nearest open shelters fit for an alert's hazard (subscriber: from its location or district)", "subscriber",
        {"200": "shelters, nearest first", **ERR},
        params=[{"name": "alert_id", "in": "query", "schema": {"type": "integer"}},
                {"name": "n", "in": "query", "schema": {"type": "integer"}},
                {"name": "kind", "in": "query", "schema": {"type": "string"}},
                {"name": "lat", "in": "query", "schema": {"type": "number"}},
                {"name": "lon", "in": "query", "schema": {"type": "number"}}])},
    "/api/v1/shelters/{id}": {
        "get": _op("A shelter (operator)", "operator", {"200": "shelter", **ERR}, params=[ID]),
        "patch": _op("Change a shelter (operator)", "operator", {"200": "shelter", **ERR}, params=[ID],
                     body="application/json"),
        "delete": _op("Remove a shelter (operator)", "operator", {"204": "removed", **ERR}, params=[ID]),
    },
})


# -- the subscriber app -------------------------------------------------------------
OPENAPI["paths"].update({
    "/app": {"get": _op("The subscriber app (a progressive web app)", "public", {"200": "HTML"}, security=False)},
    "/app/": {"get": _op("The subscriber app (a progressive web app)", "public", {"200": "HTML"}, security=False)},
    "/app/sw.js": {"get": _op("The app's service worker", "public", {"200": "JavaScript"}, security=False)},
    "/app/manifest.webmanifest": {"get": _op("The app's web manifest", "public", {"200": "manifest"}, security=False)},
    "/app/regions.json": {"get": _op("Districts and streets for the sign-up search", "public", {"200": "regions"},
                                     security=False)},
    "/app/static/{name}": {"get": _op("The app's scripts, stylesheet and icon", "public", {"200": "file", "404": "no such file"},
                                      security=False, params=[{"name": "name", "in": "path", "required": True,
                                                               "schema": {"type": "string"}}])},
    "/vendor/{path}": {"get": _op("Vendored browser libraries (Leaflet) with their licences", "public",
                                  {"200": "file", "404": "no such file"}, security=False,
                                  params=[{"name": "path", "in": "path", "required": True,
                                           "schema": {"type": "string"}}])},
})


# -- the operator's console: live dashboard, drill-down, health -------------------------
_CHANNEL = {"name": "channel", "in": "path", "required": True, "schema": {"type": "string"}}
_REASON = {"name": "reason", "in": "path", "required": True, "schema": {"type": "string"}}
OPENAPI["paths"].update({
    "/console/api/live": {"get": _op(
        "The live dashboard (operator; console session or API key): a snapshot event, then what changed each tick",
        "operator", {"200": "text/event-stream", **ERR, "429": "too many dashboards open"})},
    "/console/api/alerts/{id}/failures": {"get": _op(
        "An alert's failures by channel and reason (operator)", "operator", {"200": "failures", **ERR},
        params=[ID])},
    "/console/api/alerts/{id}/failures/{channel}/{reason}": {"get": _op(
        "The subscribers behind one failure reason, masked endpoints, paginated by subscriber id (operator)",
        "operator", {"200": "page of subscribers", **ERR},
        params=[ID, _CHANNEL, _REASON, {"name": "cursor", "in": "query", "schema": {"type": "integer"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer"}}])},
    "/console/api/alerts/{id}/retry": {"post": _op(
        "Queue the subscribers behind a failure reason again (operator; CSRF token with a session)", "operator",
        {"200": "how many were queued, and why others were not", **ERR, "422": "the alert is stopped or expired"},
        params=[ID], body="application/json")},
    "/console/api/alerts/{id}/cancel": {"post": _op(
        "Cancel an alert from the console (operator; CSRF token with a session)", "operator",
        {"202": "cancel accepted", **ERR, "422": "cannot cancel"}, params=[ID])},
    "/console/api/health": {"get": _op(
        "Providers (circuit, error rate, quota use), queue depth per lane, workers, pending fan-outs (operator)",
        "operator", {"200": "health", **ERR})},
})


# -- the console (session cookie after signing in with a key; CSRF token on every state change) ----
_CONSOLE_PAGE = {"200": "HTML", "303": "not signed in: to the sign-in page", "403": "role not allowed (HTML page)"}
_FORM = "application/x-www-form-urlencoded"
OPENAPI["paths"].update({
    "/console": {"get": _op("The console's landing page, by role", "console", _CONSOLE_PAGE, security=False)},
    "/console/": {"get": _op("The console's landing page, by role", "console", _CONSOLE_PAGE, security=False)},
    "/console/sign-in": {
        "get": _op("The sign-in form", "console", {"200": "HTML", "303": "already signed in"}, security=False),
        "post": _op("Sign in with an API key (form: key, csrf, next); answers with the session cookie", "console",
                    {"303": "signed in", "401": "unknown or revoked key", "403": "form token missing or wrong",
                     "429": "too many failed sign-ins"}, security=False, body=_FORM)},
    "/console/sign-out": {"post": _op("Sign out (form field csrf)", "console",
                                      {"303": "signed out", "401": "no session", "403": "CSRF token missing"},
                                      security=False, body=_FORM)},
    "/console/api/session": {"get": _op("Who is signed in, and the session's CSRF token", "console",
                                        {"200": "session", "401": "no session"}, security=False)},
    "/console/language": {"get": _op("Remember the console's language and go back", "console",
                                     {"303": "back to the page"}, security=False,
                                     params=[{"name": "lang", "in": "query", "schema": {"type": "string"}},
                                             {"name": "next", "in": "query", "schema": {"type": "string"}}])},
    "/console/static/{name}": {"get": _op("The console's script, stylesheet and strings", "console",
                                          {"200": "file", "404": "no such file"}, security=False,
                                          params=[{"name": "name", "in": "path", "required": True,
                                                   "schema": {"type": "string"}}])},
    "/console/audit": {"get": _op("The audit trail page (operator)", "console", _CONSOLE_PAGE, security=False,
                                  params=[{"name": "action", "in": "query", "schema": {"type": "string"}},
                                          {"name": "cursor", "in": "query", "schema": {"type": "string"}}])},
})


# -- households, devices, sensor events, groups --------------------------------
from .openapi_households import PATHS as _HOUSEHOLD_PATHS  # noqa: E402

OPENAPI["paths"].update(_HOUSEHOLD_PATHS)

# -- the operator's console pages --------------------------------------------------------
OPENAPI["paths"].update({
    "/console/dashboard": {"get": _op("The live dashboard page (operator)", "console", _CONSOLE_PAGE, security=False)},
    "/console/dashboard/alerts/{id}": {"get": _op(
        "An alert's failure drill-down page (operator)", "console", _CONSOLE_PAGE, security=False,
        params=[ID, {"name": "channel", "in": "query", "schema": {"type": "string"}},
                {"name": "reason", "in": "query", "schema": {"type": "string"}},
                {"name": "cursor", "in": "query", "schema": {"type": "integer"}},
                {"name": "retried", "in": "query", "schema": {"type": "integer"}}])},
    "/console/dashboard/alerts/{id}/retry": {"post": _op(
        "Retry these (form: csrf, channel, reason, subscriber_id…; operator)", "console",
        {"303": "back to the drill-down", **ERR}, security=False, params=[ID],
        body="application/x-www-form-urlencoded")},
})
# -- the console's drafts, approvals, composer and rules (session + CSRF token) ---------------------
_DRAFT_ERR = {"400": "malformed body; the field is named", "401": "no console session",
              "403": "role not allowed, CSRF token missing, or an author approving", "404": "no such draft",
              "409": "the draft moved on (state or version)", "422": "the warning would be refused; fields named"}
_VERSION = {"type": "object", "required": ["version"], "properties": {"version": {"type": "integer"}}}
OPENAPI["paths"].update({
    "/console/compose": {"get": _op("The composer page (issuer); ?draft=<id> or ?update=<alert id>", "console",
                                    _CONSOLE_PAGE, security=False,
                                    params=[{"name": "draft", "in": "query", "schema": {"type": "string"}},
                                            {"name": "update", "in": "query", "schema": {"type": "string"}}])},
    "/console/drafts": {"get": _op("An issuer's drafts page", "console", _CONSOLE_PAGE, security=False)},
    "/console/approvals": {"get": _op("The approvals page (operator)", "console", _CONSOLE_PAGE, security=False)},
    "/console/rules": {
        "get": _op("The approval-rules page (operator)", "console", _CONSOLE_PAGE, security=False),
        "post": _op("Save approval rules from the page's form (operator; csrf field)", "console",
                    {"200": "saved", "403": "role or CSRF token", "422": "a rule is wrong"}, security=False,
                    body=_FORM)},
    "/console/api/approval-rules": {
        "get": _op("The approval rules in force", "console", {"200": "rules", "401": "no session"}, security=False),
        "put": _json_body(_op("Replace the approval rules, or {\"reset\": true} (operator)", "console",
                              {"200": "rules", "401": "no session", "403": "role or CSRF token",
                               "422": "a rule is wrong; its field named"}, security=False),
                          {"type": "object", "properties": {"rules": {"type": "array"}, "reset": {"type": "boolean"}}})},
    "/console/api/templates": {"get": _op("The warning-signal template library", "console",
                                          {"200": "signals and levels", "401": "no session"}, security=False)},
    "/console/api/regions": {"get": _op("Region tree and approximate district outlines", "console",
                                        {"200": "regions", "401": "no session"}, security=False)},
    "/console/api/preview": {"post": _json_body(_op(
        "Render a form for every channel and language, with the validator's findings and the estimate (issuer)",
        "console", {"200": "preview", **_DRAFT_ERR}, security=False), {"type": "object"})},
    "/console/api/drafts": {
        "get": _op("Drafts: an issuer's organisation's, or ?pending=1 for approvers", "console",
                   {"200": "drafts", "401": "no session"}, security=False,
                   params=[{"name": "pending", "in": "query", "schema": {"type": "string"}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer"}}]),
        "post": _json_body(_op("A new draft from a form (issuer)", "console", {"201": "the draft", **_DRAFT_ERR},
                               security=False), {"type": "object", "properties": {"form": {"type": "object"}}})},
    "/console/api/drafts/{id}": {
        "get": _op("A draft with every version, its history and authors", "console", {"200": "draft", **_DRAFT_ERR},
                   security=False, params=[ID]),
        "put": _json_body(_op("A new version of a draft (issuer)", "console", {"200": "draft", **_DRAFT_ERR},
                              security=False, params=[ID]),
                          {"type": "object", "properties": {"version": {"type": "integer"}, "form": {"type": "object"}}})},
    "/console/api/drafts/{id}/diff": {"get": _op("What changed between two versions", "console",
                                                 {"200": "changes", **_DRAFT_ERR}, security=False,
                                                 params=[ID, {"name": "from", "in": "query", "schema": {"type": "integer"}},
                                                         {"name": "to", "in": "query", "schema": {"type": "integer"}}])},
})
for _step, _what in (("submit", "Submit a version: to approval, or published when no rule applies (issuer)"),
                     ("approve", "Approve a version and publish it (operator; never an author)"),
                     ("reject", "Reject a version with a reason its authors read (operator)"),
                     ("cancel", "Withdraw a draft, or cancel its published alert")):
    OPENAPI["paths"][f"/console/api/drafts/{{id}}/{_step}"] = {"post": _json_body(_op(
        _what, "console", {"200": "draft", **_DRAFT_ERR}, security=False, params=[ID]),
        _VERSION if _step != "cancel" else {"type": "object"})}
