"""Subscriber commands of the command line: `warncast subscribers import FILE`."""
from __future__ import annotations

from pathlib import Path

import click

from .settings import Settings


@click.group()
def subscribers() -> None:
    """Manage subscribers."""


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Import subscribers from CSV or NDJSON: every line valid, or nothing imported."""
    from rich.progress import Progress

    from subscribers.importer import detect_format, import_bytes
    from subscribers.store import SubscriberStore

    from .store import open_store

    settings = Settings.from_env()
    store = open_store(settings)

    async def run():
        redis = store.aio()
        try:
            with Progress() as progress:
                task = progress.add_task(f"checking {file.name}", total=None)

                def tick(phase: str, done: int, total: int) -> None:
                    progress.update(task, description=f"{phase} {file.name}", completed=done, total=total)

                return await import_bytes(SubscriberStore(redis, settings.shard_size), file.read_bytes(),
                                          detect_format(file.name), tick)
        finally:
            await redis.aclose()

    try:
        report = _run_coro(run())
    finally:
        store.close()
    if report.errors:
        for line, field, message in report.errors[:200]:
            click.echo(f"{file.name}:{line}: {field}: {message}", err=True)
        more = len(report.errors) - 200
        if more > 0:
            click.echo(f"… and {more} more", err=True)
        raise click.ClickException(f"{len(report.errors)} problem(s) in {report.lines} lines; nothing was imported")
    for line, why in report.skips[:50]:
        click.echo(f"{file.name}:{line}: skipped: {why}")
    if report.skipped > 50:
        click.echo(f"… and {report.skipped - 50} more skipped")
    click.echo(f"imported {report.imported} subscribers: {report.created} created, {report.updated} updated, "
               f"{report.skipped} skipped")


def _run_coro(coro):
    from .cli import _run
    return _run(coro)
