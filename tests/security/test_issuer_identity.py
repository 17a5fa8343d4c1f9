"""Issuer identity: keys have ids, issuers belong to organisations that own their CAP senders,
alert identity is per organisation, and keys can be listed, revoked and rotated (API and CLI),
with a revoked key refused at once by every process."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dispatcher.api import context as ctx
from dispatcher.auth import Caller, may_amend
from dispatcher.cli import main as cli
from tests.factories import cap_json


async def _key(api, name, org, scopes=("11",), senders=()):
    return await api.app[ctx.KEYS].create(name, "issuer", list(scopes), org=org, senders=list(senders))


async def test_an_issuer_cannot_publish_with_another_organisations_sender(api):
    await _key(api, "chaoyang", "chaoyang-gov", senders=["alerts@chaoyang.gov.cn"])
    other = await _key(api, "haidian", "haidian-gov")
    status, body = await api.publish(cap_json(sender="alerts@chaoyang.gov.cn"), who=other)
    assert status == 403, body
    assert "alert/sender" in body["error"] and body["errors"][0]["path"] == "alert/sender"


async def test_a_key_bound_to_senders_publishes_with_those_only(api):
    key = await _key(api, "chaoyang", "chaoyang-gov", senders=["alerts@chaoyang.gov.cn"])
    status, body = await api.publish(cap_json(sender="someone-else@example.org"), who=key)
    assert status == 403 and body["errors"][0]["path"] == "alert/sender"
    status, body = await api.publish(cap_json(sender="alerts@chaoyang.gov.cn"), who=key)
    assert status == 202, body
    assert body["org"] == "chaoyang-gov"


async def test_a_sender_cannot_be_claimed_by_two_organisations(api):
    await _key(api, "chaoyang", "chaoyang-gov", senders=["alerts@chaoyang.gov.cn"])
    with pytest.raises(ValueError, match="belongs to organisation chaoyang-gov"):
        await _key(api, "squatter", "other-gov", senders=["free@other.gov.cn", "alerts@chaoyang.gov.cn"])
    assert await api.app[ctx.KEYS].sender_owner("free@other.gov.cn") is None    # nothing half-claimed


async def test_nobody_can_pre_empt_another_organisations_identifier(api):
    """Another organisation storing the same sender,identifier,sent first neither blocks the
    owner's alert (409) nor answers for it (200 with the squatter's record)."""
    owner = await _key(api, "chaoyang", "chaoyang-gov")
    squatter = await _key(api, "squatter", "other-gov")
    doc = cap_json(identifier="CY-2026-0001")
    fake = {**doc, "info": [{**i, "headline": "all clear"} for i in doc["info"]]}
    status, first = await api.publish(fake, who=squatter)
    assert status == 202, first
    status, mine = await api.publish(doc, who=owner)
    assert status == 202, mine
    assert mine["id"] != first["id"] and mine["org"] == "chaoyang-gov"
    assert mine["headline"] == doc["info"][0]["headline"]
    status, again = await api.publish(doc, who=owner)           # dedupe still works within the organisation
    assert status == 200 and again["id"] == mine["id"]


async def test_keys_with_the_same_name_do_not_share_alerts(api):
    """Identity is the organisation, not a key's display name."""
    a = await api.app[ctx.KEYS].create("district-office", "issuer", ["11"])
    b = await api.app[ctx.KEYS].create("district-office", "issuer", ["11"])
    _, alert = await api.publish(cap_json(), who=a)
    status, _ = await api.call("GET", f"/api/v1/alerts/{alert['id']}", b)
    assert status == 403
    status, _ = await api.call("POST", f"/api/v1/alerts/{alert['id']}/cancel", b)
    assert status == 403
    _, listing = await api.call("GET", "/api/v1/alerts", b)
    assert listing["alerts"] == []


async def test_keys_of_one_organisation_share_its_alerts(api):
    a = await _key(api, "duty-officer-1", "chaoyang-gov")
    b = await _key(api, "duty-officer-2", "chaoyang-gov")
    _, alert = await api.publish(cap_json(), who=a)
    status, body = await api.call("POST", f"/api/v1/alerts/{alert['id']}/cancel", b)
    assert status == 202, body


async def test_admins_list_create_revoke_and_rotate_keys_over_the_api(api):
    status, created = await api.call("POST", "/api/v1/keys", json={
        "name": "chaoyang", "role": "issuer", "scopes": ["110105"], "org": "chaoyang-gov",
        "senders": ["alerts@chaoyang.gov.cn"]})
    assert status == 201, created
    key_id, secret = created["key"]["id"], created["secret"]
    assert isinstance(key_id, int) and secret.startswith("wk_")
    status, listing = await api.call("GET", "/api/v1/keys")
    assert status == 200
    listed = {k["id"]: k for k in listing["keys"]}
    assert listed[key_id]["org"] == "chaoyang-gov" and listed[key_id]["active"] is True
    assert secret not in json.dumps(listing)
    assert len(listed) == len(api.keys)  + 1                    # every key has its own id

    status, rotated = await api.call("POST", f"/api/v1/keys/{key_id}/rotate")
    assert status == 200 and rotated["key"]["id"] == key_id and rotated["secret"] != secret
    assert (await api.call("GET", "/api/v1/alerts", secret))[0] == 401
    assert (await api.call("GET", "/api/v1/alerts", rotated["secret"]))[0] == 200

    status, revoked = await api.call("POST", f"/api/v1/keys/{key_id}/revoke")
    assert status == 200 and revoked["key"]["active"] is False
    assert (await api.call("GET", "/api/v1/alerts", rotated["secret"]))[0] == 401
    assert (await api.call("POST", f"/api/v1/keys/{key_id}/revoke"))[0] == 409
    assert (await api.call("POST", f"/api/v1/keys/{key_id}/rotate"))[0] == 409
    assert (await api.call("POST", "/api/v1/keys/99999/revoke"))[0] == 404


@pytest.mark.parametrize("who", ["operator", "issuer"])
async def test_only_admins_manage_keys(api, who):
    for method, path in [("GET", "/api/v1/keys"), ("POST", "/api/v1/keys"), ("POST", "/api/v1/keys/1/revoke"),
                         ("POST", "/api/v1/keys/1/rotate")]:
        status, _ = await api.call(method, path, who, json={"name": "x", "role": "admin"})
        assert status == 403, (method, path)


async def test_bad_key_fields_are_named(api):
    status, body = await api.call("POST", "/api/v1/keys", json={"name": "x", "role": "issuer", "scopes": ["1101O5"]})
    assert status == 400 and body["errors"][0]["field"] == "scopes"
    status, body = await api.call("POST", "/api/v1/keys", json={"name": "x", "role": "king"})
    assert status == 400 and body["errors"][0]["field"] == "role"
    status, body = await api.call("POST", "/api/v1/keys", json={"name": "x", "role": "issuer", "scopes": "11"})
    assert status == 400 and body["errors"][0]["field"] == "scopes"


async def test_a_revoked_key_is_refused_at_once_by_every_process(api, store, settings):
    """Two API processes on one Redis: a key revoked through one is refused by the other."""
    secret = await _key(api, "chaoyang", "chaoyang-gov")
    async with open_other(store, settings) as other:
        assert (await other.call("GET", "/api/v1/alerts", secret))[0] == 200
        key_id = (await other.app[ctx.KEYS].authenticate(secret)).key_id
        status, _ = await api.call("POST", f"/api/v1/keys/{key_id}/revoke")
        assert status == 200
        assert (await other.call("GET", "/api/v1/alerts", secret))[0] == 401


def open_other(store, settings):
    from tests.dispatcher.conftest import open_api
    return open_api(store, settings)


def _cli(*args):
    result = CliRunner().invoke(cli, list(args))
    return result


async def test_cli_lists_revokes_and_rotates_keys(api, store):
    """`warncast keys list | revoke ID | rotate ID` against the running server's Redis."""
    import asyncio
    created = await asyncio.to_thread(_cli, "keys", "create", "--name", "chaoyang", "--role", "issuer",
                                      "--scope", "110105", "--org", "chaoyang-gov")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    key_id = (await api.app[ctx.KEYS].authenticate(secret)).key_id
    listed = await asyncio.to_thread(_cli, "keys", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows[key_id]["org"] == "chaoyang-gov" and secret not in listed.stdout

    rotated = await asyncio.to_thread(_cli, "keys", "rotate", str(key_id))
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.stdout.strip().splitlines()[-1]
    assert (await api.call("GET", "/api/v1/alerts", secret))[0] == 401
    assert (await api.call("GET", "/api/v1/alerts", new_secret))[0] == 200

    revoked = await asyncio.to_thread(_cli, "keys", "revoke", str(key_id))
    assert revoked.exit_code == 0, revoked.output
    assert (await api.call("GET", "/api/v1/alerts", new_secret))[0] == 401
    again = await asyncio.to_thread(_cli, "keys", "revoke", str(key_id))
    assert again.exit_code == 1 and "already revoked" in again.output and "Traceback" not in again.output
    missing = await asyncio.to_thread(_cli, "keys", "rotate", "4242")
    assert missing.exit_code == 1 and "no API key 4242" in missing.output


async def test_operators_delegate_an_alert_to_another_organisation(api):
    owner = await _key(api, "chaoyang", "chaoyang-gov")
    helper = await _key(api, "city", "beijing-city")
    _, alert = await api.publish(cap_json(), who=owner)
    path = f"/api/v1/alerts/{alert['id']}"
    assert (await api.call("POST", f"{path}/cancel", helper))[0] == 403
    assert (await api.call("POST", f"{path}/delegate", helper, json={"org": "beijing-city"}))[0] == 403
    status, body = await api.call("POST", f"{path}/delegate", "operator", json={"org": "bad org!"})
    assert status == 400 and body["errors"][0]["field"] == "org"
    status, body = await api.call("POST", f"{path}/delegate", "operator", json={"org": "beijing-city"})
    assert status == 200 and body["delegates"] == ["beijing-city"]
    assert (await api.call("GET", path, helper))[0] == 200
    _, listing = await api.call("GET", "/api/v1/alerts", helper)
    assert [x["id"] for x in listing["alerts"]] == [alert["id"]]
    status, body = await api.call("POST", f"{path}/cancel", helper)
    assert status == 202, body


RECORD = type("Rec", (), {"id": 1, "org": "chaoyang-gov", "delegates": ("beijing-city",)})()


@pytest.mark.parametrize("caller,allowed", [
    (Caller("a", "issuer", ("11",), key_id=1, org="chaoyang-gov"), True),
    (Caller("a", "issuer", ("11",), key_id=2, org="beijing-city"), True),          # delegated
    (Caller("chaoyang-gov", "issuer", ("11",), key_id=3, org="other"), False),     # name is not identity
    (Caller("o", "operator", ("*",), key_id=4, org="ops"), True),
    (Caller("r", "admin", ("*",), org="*"), True),
    (Caller("subscriber:1", "subscriber", (), 1), False),
    (Caller("a", "issuer", ("11",), key_id=5, org=""), False),
])
def test_may_amend(caller, allowed):
    assert may_amend(caller, RECORD) is allowed
