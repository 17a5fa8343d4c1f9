"""OpenAPI paths of households, devices, sensor events and groups (merged into openapi.OPENAPI)."""
from __future__ import annotations

from .openapi import ERR, ID, _op

NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
DEVICE = {"name": "device_id", "in": "path", "required": True, "schema": {"type": "string"}}
PAGE = [{"name": "offset", "in": "query", "schema": {"type": "integer"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer"}}]

PATHS = {
    "/api/v1/households": {
        "get": _op("List households (operator)", "operator", {"200": "households", **ERR}, params=PAGE),
        "post": _op("Add a household: members in order of contact, escalation contacts with delays", "operator",
                    {"201": "created", **ERR}, body="application/json"),
    },
    "/api/v1/households:import": {"post": _op(
        "Import households from JSON lines or CSV; all or nothing; repeatable with external ids", "operator",
        {"200": "imported", **ERR, "413": "body over the limit", "422": "bad records named by line; nothing imported"},
        body="application/x-ndjson,text/csv")},
    "/api/v1/households/{id}": {
        "get": _op("A household (operator)", "operator", {"200": "household", **ERR}, params=[ID]),
        "patch": _op("Change a household (operator)", "operator", {"200": "household", **ERR}, params=[ID],
                     body="application/json"),
        "delete": _op("Remove a household (operator)", "operator", {"204": "removed", **ERR}, params=[ID]),
    },
    "/api/v1/devices": {
        "get": _op("List devices (operator); ?household=", "operator", {"200": "devices", **ERR},
                   params=[{"name": "household", "in": "query", "schema": {"type": "integer"}}]),
        "post": _op("Register a device: household, kind (co, gas, smoke, water-leak), location, thresholds",
                    "operator", {"201": "created", **ERR}, body="application/json"),
    },
    "/api/v1/devices:import": {"post": _op("Import devices from JSON lines or CSV; all or nothing; repeatable",
                                           "operator", {"200": "imported", **ERR, "422": "bad records named by line"},
                                           body="application/x-ndjson,text/csv")},
    "/api/v1/devices/{device_id}": {
        "get": _op("A device (operator)", "operator", {"200": "device", **ERR}, params=[DEVICE]),
        "patch": _op("Change a device (operator)", "operator", {"200": "device", **ERR}, params=[DEVICE],
                     body="application/json"),
        "delete": _op("Remove a device (operator)", "operator", {"204": "removed", **ERR}, params=[DEVICE]),
    },
    "/api/v1/sensors/events": {"post": _op(
        "A batch of up to 1,000 sensor events from an IoT platform, signed with HMAC-SHA256 "
        "(X-Warncast-Platform, X-Warncast-Timestamp, X-Warncast-Signature); good events taken, bad ones "
        "reported by index; threshold crossings become CAP Private alerts", "sensors",
        {"200": "accepted count, rejected events by index, alerts raised", "400": "malformed batch (field named)",
         "401": "unknown platform, stale timestamp or bad signature", "409": "batch id already received",
         "413": "over the batch limit"}, security=False, body="application/json")},
    "/api/v1/groups": {"get": _op("Subscriber groups that Restricted alerts name", "operator", {"200": "groups", **ERR})},
    "/api/v1/groups/{name}": {
        "get": _op("A group's members", "operator", {"200": "members", **ERR}, params=[NAME]),
        "delete": _op("Remove a group", "operator", {"204": "removed", **ERR}, params=[NAME]),
    },
    "/api/v1/groups/{name}/members": {"post": _op("Add subscribers to a group (created if new)", "operator",
                                                  {"200": "added", **ERR}, params=[NAME], body="application/json")},
    "/api/v1/groups/{name}/members:remove": {"post": _op("Remove subscribers from a group", "operator",
                                                         {"200": "removed", **ERR}, params=[NAME],
                                                         body="application/json")},
}
