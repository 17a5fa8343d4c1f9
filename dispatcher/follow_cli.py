"""``warncast follow URL --issuer NAME``: serve, publishing an upstream CAP feed's alerts as that issuer."""
from __future__ import annotations

import os

import click


@click.command("follow")
@click.argument("url")
@click.option("--issuer", required=True, help="Name (or id) of the issuer key the feed's alerts are published as.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=None,
              help="Seconds between polls (default WARNCAST_FOLLOW_INTERVAL_S or 30).")
@click.pass_context
def follow_command(ctx: click.Context, url: str, issuer: str, interval: float | None) -> None:
    """Run `warncast serve` and follow an Atom/RSS CAP index at URL (as WARNCAST_FOLLOW does)."""
    if not url.startswith(("http://", "https://")) or "," in url:
        raise click.BadParameter("must be an http(s) URL of an Atom or RSS CAP index", param_hint="URL")
    if not issuer.strip() or "," in issuer or "=" in issuer:
        raise click.BadParameter("must be the name of an issuer key", param_hint="--issuer")
    existing = os.environ.get("WARNCAST_FOLLOW", "")
    os.environ["WARNCAST_FOLLOW"] = ",".join(filter(None, [existing, f"{url}={issuer.strip()}"]))
    if interval is not None:
        os.environ["WARNCAST_FOLLOW_INTERVAL_S"] = str(interval)
    from .cli import serve
    ctx.invoke(serve)
