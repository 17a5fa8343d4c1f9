"""`warncast shelters …`: the shelter registry from the command line (on the embedded Redis or REDIS_URL)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import click

from .settings import Settings


def _with_store(fn):
    """Run ``fn(ShelterStore, redis)`` (a coroutine function) against the configured Redis."""
    from .shelters import ShelterStore
    from .store import open_store

    store = open_store(Settings.from_env())

    async def run():
        redis = store.aio()
        try:
            return await fn(ShelterStore(redis), redis)
        finally:
            await redis.aclose()
    try:
        return asyncio.run(run())
    finally:
        store.close()


@click.group()
def shelters() -> None:
    """Manage the shelter registry."""


@shelters.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Import shelters from CSV or GeoJSON: every record valid, or nothing imported. Records with a
    known external_id replace that shelter, so an import can be repeated."""
    from . import shelter_import
    parsed = shelter_import.parse(file.read_bytes(), shelter_import.detect_format(file.name))
    if parsed.errors:
        for where, field, message in parsed.errors[:200]:
            click.echo(f"{file.name}:{where}: {field}: {message}", err=True)
        raise click.ClickException(f"{len(parsed.errors)} problem(s); nothing was imported")

    async def save(store, _redis):
        return await store.save_many(parsed.shelters)
    saved, updated = _with_store(save)
    click.echo(f"imported {len(saved)} shelters ({len(saved) - updated} new, {updated} replaced)")


@shelters.command("list")
@click.option("--district", default="", help="Only shelters under this region code.")
@click.option("--status", type=click.Choice(["open", "closed"]), default=None)
def list_(district: str, status: str | None) -> None:
    """List shelters: id, status, capacity, kinds, district, name."""
    async def load(store, _redis):
        return await store.all()
    rows = [s for s in _with_store(load)
            if s.district.startswith(district) and (status is None or s.status == status)]
    for s in rows:
        click.echo(f"{s.id:>5}  {s.status:<6}  {s.capacity:>6}  {','.join(s.kinds):<24}  {s.district}  {s.name}")
    click.echo(f"{len(rows)} shelters")


def _set_status(ids: tuple[int, ...], alert: int | None, status: str) -> None:
    from .alerts import AlertStore
    from .errors import NotFound
    if bool(ids) == (alert is not None):
        raise click.UsageError("give shelter ids, or --alert N for every shelter in that alert's area")

    async def change(store, redis):
        if alert is not None:
            return await store.set_status_in_area((await AlertStore(redis).get(alert)).alert, status)
        return await store.set_status(ids, status)
    try:
        changed = _with_store(change)
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{status}: {len(changed)} shelters" + (f" ({', '.join(str(s.id) for s in changed)})" if changed else ""))


@shelters.command("open")
@click.argument("ids", type=int, nargs=-1)
@click.option("--alert", type=int, default=None, help="Open every shelter in this alert's area.")
def open_(ids: tuple[int, ...], alert: int | None) -> None:
    """Open shelters by id, or every shelter in an alert's area."""
    _set_status(ids, alert, "open")


@shelters.command("close")
@click.argument("ids", type=int, nargs=-1)
@click.option("--alert", type=int, default=None, help="Close every shelter in this alert's area.")
def close(ids: tuple[int, ...], alert: int | None) -> None:
    """Close shelters by id, or every shelter in an alert's area."""
    _set_status(ids, alert, "closed")
