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
