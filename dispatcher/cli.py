"""The `warncast` command line."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from .settings import Settings


def _run(coro):
    try:
        import uvloop
        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)


def _ignore_stop_signals() -> None:
    """While the embedded Redis it started is being stopped, a second signal must not cut that short."""
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class WarncastGroup(click.Group):
    """Commands that reach Redis directly (keys, import, worker) say in one line when it is not there;
    a setting that cannot be used is named in one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        import redis
        from .settings import SettingError
        try:
            return super().invoke(ctx)
        except SettingError as exc:
            from .cli_client import CliError
            raise CliError(f"setting {exc}") from None
        except redis.exceptions.ConnectionError as exc:
            from .cli_client import CliError
            reason = (str(exc) or type(exc).__name__).splitlines()[0]
            raise CliError(f"cannot reach Redis ({reason}): check REDIS_URL, or leave it unset to use the "
                           "embedded one under WARNCAST_DATA_DIR") from None


@click.group(cls=WarncastGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.option("--api-url", default=None, metavar="URL",
              help="The API the alert commands talk to (default WARNCAST_API_URL, else http://127.0.0.1:8080).")
@click.option("--key", default=None, metavar="KEY", help="The API key they send (default WARNCAST_API_KEY).")
@click.pass_context
def main(ctx: click.Context, verbose: bool, api_url: str | None, key: str | None) -> None:
    """warncast: CAP 1.2 early warnings to every subscriber concerned, within seconds."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"api_url": api_url, "key": key}


@main.command()
@click.option("--host", default=None, help="Listen address (default WARNCAST_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default WARNCAST_PORT or 8080).")
@click.option("--workers", type=int, default=None,
              help="Shard jobs run in this process at once; 0 leaves them to `warncast worker` (RQ).")
def serve(host, port, workers) -> None:
    """Run the API (and, unless --workers 0, the fan-out) on the embedded Redis or REDIS_URL."""
    from .server import start_server
    from .store import open_store

    from .listen import check_can_listen, listen_error

    settings = Settings.from_env()
    if host:
        settings = dataclasses.replace(settings, host=host)
    port = settings.port if port is None else port
    check_can_listen(settings.host, port)     # before the store: a busy port touches nothing
    store = open_store(settings)

    async def run():
        from .shutdown import until_signalled
        notice = await _channels_notice(settings, store)     # said before the first request is answered
        try:
            runner, url, _ = await start_server(settings, store, port=port, workers=workers)
        except OSError as exc:
            raise listen_error(settings.host, port, exc) from None
        click.echo(f"warncast API on {url} (redis: {'embedded' if store.embedded else 'REDIS_URL'})")
        click.echo(notice, err=True)
        try:
            signum = await until_signalled()
            click.echo(f"{signum.name}: stopping (intake closed, batches in flight finishing)", err=True)
        finally:
            await runner.cleanup()

    try:
        _run(run())
    except KeyboardInterrupt:
        pass
    finally:
        _ignore_stop_signals()
        store.close()


async def _channels_notice(settings: Settings, store) -> str:
    from .startup import channels_notice, fallback_count
    redis = store.aio(max_connections=2)
    try:
        return channels_notice(settings, await fallback_count(redis, settings.shard_size, settings.channels))
    finally:
        await redis.aclose()


@main.command()
@click.option("--processes", type=int, default=1, show_default=True, help="Worker processes to run.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(processes: int, burst: bool) -> None:
    """Serve shard jobs from the RQ queues (highest lane first) on REDIS_URL, on any number of machines."""
    from .distributed import run_workers
    if not Settings.from_env().redis_url:
        click.echo("note: no REDIS_URL; attaching to the embedded Redis under WARNCAST_DATA_DIR", err=True)
    sys.exit(run_workers(processes, burst))


@main.command()
@click.option("--subscribers", "n", type=int, default=200_000, show_default=True)
@click.option("--devices", type=int, default=40, show_default=True,
              help="Simulated phones that hold the in-app stream open and acknowledge.")
@click.option("--polygon", is_flag=True, help="Also publish the sample polygon-and-circle warning.")
@click.option("--shelters", is_flag=True, help="Also import the synthetic shelters and publish a Shelter warning.")
@click.option("--sensors", is_flag=True,
              help="Also raise carbon-monoxide alarms in three synthetic homes, with one escalation.")
def demo(n: int, devices: int, polygon: bool, shelters: bool, sensors: bool) -> None:
    """Embedded Redis, API, N synthetic subscribers over Beijing, the sample red warning, a report."""
    from .demo import run_demo
    sys.exit(_run(run_demo(n, devices, polygon, shelters=shelters, sensors=sensors)))


@main.group()
def keys() -> None:
    """Manage API keys: create, list, revoke, rotate."""


def _on_redis(work):
    """Run ``work(redis)`` against the configured Redis (attaching to a running embedded one)."""
    from .store import open_store

    store = open_store(Settings.from_env())

    async def run():
        redis = store.aio()
        try:
            return await work(redis)
        finally:
            await redis.aclose()

    try:
        return _run(run())
    finally:
        store.close()


def _cli_user() -> str:
    import getpass
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


@keys.command("create")
@click.option("--name", required=True, help="Who the key is for, e.g. chaoyang-emergency.")
@click.option("--role", type=click.Choice(["issuer", "operator", "admin"]), required=True)
@click.option("--scope", "scopes", multiple=True,
              help="What an issuer may alert (repeatable): a region-code prefix such as 110105, "
                   "a bounding box for polygons and circles as bbox:south,west,north,east, or * for everywhere.")
@click.option("--org", default=None,
              help="Organisation the key acts for; keys of one organisation share its alerts "
                   "(default: the key is an organisation of its own).")
@click.option("--sender", "senders", multiple=True,
              help="CAP sender the key may publish as (repeatable); binds the sender to the organisation.")
def keys_create(name: str, role: str, scopes: tuple[str, ...], org: str | None, senders: tuple[str, ...]) -> None:
    """Create an API key; its secret is printed once and stored only as a hash."""
    from . import audit
    from .auth import KeyStore

    async def work(redis):
        rec, secret = await KeyStore(redis).create_record(name, role, list(scopes), org=org, senders=list(senders))
        await audit.record(redis, audit.Action.KEY_CREATED, _cli_user(), "local", key=rec.id, name=rec.name,
                           role=rec.role, scopes=rec.scopes, org=rec.org, senders=rec.senders)
        return rec, secret

    try:
        rec, secret = _on_redis(work)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {rec.id} ({rec.name}, {rec.role}, organisation {rec.org}); the secret is shown once:", err=True)
    click.echo(secret)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def keys_list(as_json: bool) -> None:
    """List API keys (never their secrets), revoked ones included."""
    from .auth import KeyStore

    recs = _on_redis(lambda redis: KeyStore(redis).list())
    if as_json:
        click.echo(json.dumps([r.public() for r in recs], ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table("id", "name", "role", "organisation", "scopes", "senders", "state")
    for r in recs:
        table.add_row(str(r.id), r.name, r.role, r.org, " ".join(r.scopes), " ".join(r.senders),
                      "revoked" if r.revoked is not None else "active")
    Console().print(table)


def _key_change(key_id: int, change: str):
    from . import audit
    from .auth import KeyStore
    from .errors import WarncastError

    async def work(redis):
        ks = KeyStore(redis)
        rec, secret = (await ks.revoke(key_id), None) if change == "revoke" else await ks.rotate(key_id)
        action = audit.Action.KEY_REVOKED if change == "revoke" else audit.Action.KEY_ROTATED
        await audit.record(redis, action, _cli_user(), "local", key=rec.id, name=rec.name)
        return rec, secret

    try:
        return _on_redis(work)
    except WarncastError as exc:
        raise click.ClickException(exc.message) from None


@keys.command("revoke")
@click.argument("key_id", type=click.IntRange(1, 10**15))
def keys_revoke(key_id: int) -> None:
    """Revoke a key: every process refuses it from now on."""
    rec, _ = _key_change(key_id, "revoke")
    click.echo(f"key {rec.id} ({rec.name}) revoked")


@keys.command("rotate")
@click.argument("key_id", type=click.IntRange(1, 10**15))
def keys_rotate(key_id: int) -> None:
    """Give a key a new secret (printed once); the old secret is refused from now on."""
    rec, secret = _key_change(key_id, "rotate")
    click.echo(f"key {rec.id} ({rec.name}) rotated; the new secret is shown once:", err=True)
    click.echo(secret)


@main.command("audit")
@click.option("--export", "export_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every entry, oldest first, as NDJSON to this file ('-' for stdout).")
@click.option("--action", default=None, help="Only entries of this action, e.g. key.revoked.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def audit_(export_file: Path | None, action: str | None, limit: int) -> None:
    """Show the audit trail (newest first), or export all of it as NDJSON."""
    from . import audit

    if action is not None and action not in {a.value for a in audit.Action}:
        raise click.BadParameter("one of " + ", ".join(a.value for a in audit.Action), param_hint="--action")
    if export_file is not None:
        async def dump(redis):
            n = 0
            out = sys.stdout if str(export_file) == "-" else export_file.open("w", encoding="utf-8")
            try:
                async for e in audit.export(redis):
                    if action is None or e["action"] == action:
                        out.write(json.dumps(e, ensure_ascii=False) + "\n")
                        n += 1
            finally:
                if out is not sys.stdout:
                    out.close()
            return n

        n = _on_redis(dump)
        click.echo(f"exported {n} entries to {export_file}", err=True)
        return
    entries, _ = _on_redis(lambda redis: audit.read(redis, action=action, limit=limit))
    for e in entries:
        when = datetime.fromtimestamp(e["t"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        who = e["name"] + (f" (key {e['key_id']})" if e["key_id"] is not None else "")
        click.echo(f"{when}Z  {e['action']:<22} {who} from {e['remote']}: "
                   f"{json.dumps(e['what'], ensure_ascii=False)}")


@main.command()
@click.option("--only", multiple=True, type=click.Choice(["hms", "fcm", "apns", "webpush", "sms", "smpp"]),
              help="Start only these simulators (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the simulators listen on.")
@click.option("--port-base", type=click.IntRange(0, 65_530), default=None,
              help="hms, fcm, apns, webpush, sms and smpp listen on this port and the next five "
                   "(0 picks free ports; default 9101-9104, 9201 and 2775).")
def simulate(only: tuple[str, ...], host: str, port_base: int | None) -> None:
    """Run the provider simulators and print the settings that point warncast at them; Ctrl-C or SIGTERM stops them."""
    from loadtest.simulators.run import ALL, ports_from, serve_forever

    from .listen import check_can_listen
    names = tuple(dict.fromkeys(only)) or ALL
    ports = ports_from(port_base)
    for name in names:
        if ports[name]:
            check_can_listen(host, ports[name], hint="choose other ports with --port-base (0 picks free ones)")
    sys.exit(_run(serve_forever(names, host, port_base)))


@main.command()
@click.option("--subscribers", "n", type=int, default=200_000, show_default=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench(n: int, json_file: Path | None) -> None:
    """Run the fan-out benchmark (same as python -m loadtest.bench_fanout)."""
    from loadtest.bench_fanout import main as bench_main
    args = ["--subscribers", str(n)] + (["--json", str(json_file)] if json_file else [])
    sys.exit(bench_main(args))


from .cli_subscribers import subscribers as _subscribers  # noqa: E402
main.add_command(_subscribers)
from .cli_alerts import register as _register_alert_commands  # noqa: E402  (after main exists)

_register_alert_commands(main)

from .shelters_cli import shelters as _shelters  # noqa: E402
main.add_command(_shelters)
from .cli_households import devices as _devices, groups as _groups, households as _households  # noqa: E402
main.add_command(_households)
main.add_command(_groups)
main.add_command(_devices)
from .follow_cli import follow_command  # noqa: E402  (registered on the group below)
from .validate_cli import validate_command  # noqa: E402
main.add_command(validate_command)
main.add_command(follow_command)


if __name__ == "__main__":  # pragma: no cover
    main()
