"""`warncast households …` and `warncast groups …`: households, escalation contacts and subscriber groups
from the command line (on the embedded Redis or REDIS_URL, as `warncast shelters`)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from .settings import Settings


def with_redis(fn):
    """Run ``fn(redis, settings)`` (a coroutine function) against the configured Redis; errors
    naming a field become one line each, never a traceback."""
    from .errors import WarncastError
    from .store import open_store

    settings = Settings.from_env()
    store = open_store(settings)

    async def run():
        redis = store.aio()
        try:
            return await fn(redis, settings)
        finally:
            await redis.aclose()
    try:
        return asyncio.run(run())
    except WarncastError as exc:
        for e in exc.errors[:200]:
            where = f"line {e['line']}: " if "line" in e else ""
            click.echo(f"{where}{e.get('field', e.get('path', ''))}: {e['message']}", err=True)
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


def _households(redis, settings):
    from subscribers.store import SubscriberStore

    from .households import HouseholdStore
    return HouseholdStore(redis, SubscriberStore(redis, settings.shard_size))


@click.group()
def households() -> None:
    """Manage households: members in order of contact and escalation contacts."""


@households.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Import households from JSON lines (.ndjson, .jsonl) or CSV: every record valid, or nothing
    imported; records with a known external_id replace that household, so an import can be repeated."""
    from .household_import import import_households
    fmt = "csv" if file.suffix.lower() == ".csv" else "ndjson"

    async def run(redis, settings):
        return await import_households(_households(redis, settings), file.read_bytes(), fmt)
    out = with_redis(run)
    click.echo(f"imported {out['imported']} households ({out['created']} new, {out['updated']} replaced)")


def _contact(text: str) -> dict:
    """sms:+8613912345678@60 or subscriber:7@60 → a contact record (validated by the store)."""
    from .household_import import _csv_contact
    return _csv_contact(text)


@households.command("add")
@click.option("--member", "members", type=int, multiple=True, required=True,
              help="A member's subscriber id; repeat in the order they are contacted.")
@click.option("--contact", "contacts", multiple=True, metavar="sms:NUMBER@DELAY|subscriber:ID@DELAY",
              help="An escalation contact and the seconds it has to react; repeat in order.")
@click.option("--delay", "delay_s", type=int, default=120, show_default=True,
              help="Seconds the members have to confirm an alarm before the first contact is alerted.")
@click.option("--name", default="", help="What operators call the home, e.g. its address.")
@click.option("--region", default="", help="Region code of the home, e.g. 110105.")
def add(members, contacts, delay_s, name, region) -> None:
    """Add a household."""
    data = {"members": list(members), "contacts": [_contact(c) for c in contacts], "delay_s": delay_s,
            "name": name, "region": region}

    async def run(redis, settings):
        return await _households(redis, settings).create(data)
    h = with_redis(run)
    click.echo(f"household {h.id}: {len(h.members)} member(s), {len(h.contacts)} contact(s)")


@households.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(as_json: bool) -> None:
    """List households (phone numbers masked)."""
    async def run(redis, settings):
        return (await _households(redis, settings).list(0, 100_000))[0]
    found = with_redis(run)
    if as_json:
        click.echo(json.dumps([h.public() for h in found], ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table("id", "name", "region", "members", "delay s", "contacts")
    for h in found:
        contacts = ", ".join(f"{c.public().get('sms') or 'subscriber ' + str(c.subscriber_id)} @{c.delay_s}s"
                             for c in h.contacts)
        table.add_row(str(h.id), h.name, h.region, " → ".join(map(str, h.members)), str(h.delay_s), contacts)
    Console().print(table)


@households.command("remove")
@click.argument("household_id", type=int)
def remove(household_id: int) -> None:
    """Remove a household."""
    async def run(redis, settings):
        await _households(redis, settings).delete(household_id)
    with_redis(run)
    click.echo(f"removed household {household_id}")


@click.group()
def groups() -> None:
    """Manage the subscriber groups Restricted alerts name in their restriction."""


@groups.command("list")
def groups_list() -> None:
    """Groups and how many members each has."""
    from .groups import GroupStore

    async def run(redis, _settings):
        return await GroupStore(redis).names()
    for g in with_redis(run):
        click.echo(f"{g['name']}\t{g['members']}")


@groups.command("add")
@click.argument("name")
@click.argument("subscriber_ids", type=int, nargs=-1, required=True)
def groups_add(name: str, subscriber_ids: tuple[int, ...]) -> None:
    """Add subscribers to a group (created if new)."""
    from .groups import GroupStore

    async def run(redis, _settings):
        return await GroupStore(redis).add(name, list(subscriber_ids))
    click.echo(f"added {with_redis(run)} to {name}")


@groups.command("remove")
@click.argument("name")
@click.argument("subscriber_ids", type=int, nargs=-1, required=True)
def groups_remove(name: str, subscriber_ids: tuple[int, ...]) -> None:
    """Remove subscribers from a group."""
    from .groups import GroupStore

    async def run(redis, _settings):
        return await GroupStore(redis).remove(name, list(subscriber_ids))
    click.echo(f"removed {with_redis(run)} from {name}")


@click.group()
def devices() -> None:
    """Manage the sensors in households: kind, location, thresholds."""


@devices.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def devices_import(file: Path) -> None:
    """Import devices from JSON lines or CSV (id, household, kind, name, location, warning, alarm); every
    record valid or nothing imported; a known device id is replaced, so an import can be repeated."""
    from .device_import import import_devices
    from .devices import DeviceStore
    fmt = "csv" if file.suffix.lower() == ".csv" else "ndjson"

    async def run(redis, _settings):
        return await import_devices(DeviceStore(redis), file.read_bytes(), fmt)
    out = with_redis(run)
    click.echo(f"imported {out['imported']} devices ({out['created']} new, {out['updated']} replaced)")


@devices.command("add")
@click.argument("device_id")
@click.option("--household", type=int, required=True, help="The household the device is in.")
@click.option("--kind", type=click.Choice(["co", "gas", "smoke", "water-leak"]), required=True)
@click.option("--location", default="", help="Where in the home, e.g. kitchen.")
@click.option("--warning", type=float, default=None, help="Warning threshold (default: the kind's).")
@click.option("--alarm", type=float, default=None, help="Alarm threshold (default: the kind's).")
def devices_add(device_id, household, kind, location, warning, alarm) -> None:
    """Register a device."""
    from .devices import DeviceStore, validate
    limits = {k: v for k, v in (("warning", warning), ("alarm", alarm)) if v is not None}
    data = {"id": device_id, "household": household, "kind": kind, "location": location,
            **({"thresholds": limits} if limits else {})}

    async def run(redis, _settings):
        d = validate(data)
        await DeviceStore(redis).save_many([d])
        return d
    d = with_redis(run)
    w, a = d.limits()
    click.echo(f"device {d.id}: {d.kind} in household {d.household}, warning {w:g}, alarm {a:g}")


@devices.command("list")
@click.option("--household", type=int, default=None)
def devices_list(household) -> None:
    """Devices with their thresholds."""
    from .devices import KINDS, DeviceStore

    async def run(redis, _settings):
        return await DeviceStore(redis).list(household)
    for d in with_redis(run):
        w, a = d.limits()
        click.echo(f"{d.id}\t{d.kind}\thousehold {d.household}\t{d.location}\t{w:g}/{a:g} {KINDS[d.kind]['unit']}")
