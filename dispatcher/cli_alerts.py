"""Alert commands of the command line: publish, status, cancel and `alerts list/approve/reject`.

Each talks to the API (see :mod:`dispatcher.cli_client`) and prints a short summary for people,
or with ``--json`` the API's whole answer for scripts.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .cli_client import ApiClient, CliError, target
from .cli_format import alert_line, alerts_table, status_text, summary_text


def client(ctx: click.Context, need_key: bool = True) -> ApiClient:
    opts = ctx.find_root().obj or {}
    return ApiClient(target(opts.get("api_url"), opts.get("key"), need_key))


def targeted(api: ApiClient, body: dict, wait_s: float = 5.0) -> int | None:
    """How many subscribers the alert targets, once planning has counted them (None if not within wait_s)."""
    if body.get("lifecycle") != "sending":
        return (body.get("stats") or {}).get("targeted")
    deadline = time.monotonic() + wait_s
    while True:
        _, now = api.call("GET", f"/api/v1/alerts/{body['id']}")
        if now.get("planned") or now.get("lifecycle") != "sending":
            return now["stats"]["targeted"]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def emit(body: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(body, ensure_ascii=False, indent=2) if as_json else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's whole answer as JSON.")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--now", is_flag=True,
              help="Move sent to now and effective/onset/expires by as much, so a sample or template is current.")
@json_option
@click.pass_context
def publish(ctx: click.Context, file: Path, now: bool, as_json: bool) -> None:
    """Publish a CAP 1.2 alert (XML, or a .json file in CAP's element names) through the API."""
    api = client(ctx)
    data = file.read_bytes()
    is_json = file.suffix.lower() == ".json"
    if now:
        from .cap.retime import RetimeError, retime
        try:
            data = retime(data, is_json)
        except RetimeError as exc:
            raise CliError(f"{file}: --now cannot move its times: {exc}", 2) from None
    ctype = "application/json" if is_json else "application/cap+xml"
    status, body = api.call("POST", "/api/v1/alerts", content=data, headers={"Content-Type": ctype})
    prefix = "" if status == 202 else "already published (an identical resubmission):\n"
    emit(body, as_json, prefix + summary_text(body, api.where.url, targeted(api, body)))


@click.command()
@click.argument("alert_id", type=int)
@click.option("--note", default=None, help="Why it is cancelled; sent in the CAP Cancel's note.")
@json_option
@click.pass_context
def cancel(ctx: click.Context, alert_id: int, note: str | None, as_json: bool) -> None:
    """Cancel an alert: pending sends stop, subscribers already reached are told."""
    api = client(ctx)
    _, body = api.call("POST", f"/api/v1/alerts/{alert_id}/cancel", json={"note": note} if note else None)
    emit(body, as_json, f"alert {alert_id}: cancelled; the CAP Cancel that tells those reached:\n"
         + summary_text(body, api.where.url, targeted(api, body)))


@click.command()
@click.argument("alert_id", type=int)
@click.option("--watch", is_flag=True, help="Follow the fan-out live with a progress bar until it is done.")
@json_option
@click.pass_context
def status(ctx: click.Context, alert_id: int, watch: bool, as_json: bool) -> None:
    """Show an alert's message type, lifecycle and deliveries per channel."""
    api = client(ctx)
    if watch:
        from .cli_watch import watch_alert
        watch_alert(api, alert_id)
    _, body = api.call("GET", f"/api/v1/alerts/{alert_id}")
    emit(body, as_json, status_text(body))


@click.group()
def alerts() -> None:
    """List, approve and reject alerts."""


@alerts.command("list")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
@click.pass_context
def alerts_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The newest alerts the key may see, newest first."""
    _, body = client(ctx).call("GET", "/api/v1/alerts", params={"limit": limit})
    emit(body, as_json, alerts_table(body.get("alerts", [])))


@alerts.command("approve")
@click.argument("alert_id", type=int)
@json_option
@click.pass_context
def alerts_approve(ctx: click.Context, alert_id: int, as_json: bool) -> None:
    """Approve a held alert (operator or admin key): its fan-out starts."""
    api = client(ctx)
    _, body = api.call("POST", f"/api/v1/alerts/{alert_id}/approve")
    emit(body, as_json, "approved: " + summary_text(body, api.where.url, targeted(api, body)))


@alerts.command("reject")
@click.argument("alert_id", type=int)
@click.option("--reason", required=True, help="Why; the issuer sees it with the alert.")
@json_option
@click.pass_context
def alerts_reject(ctx: click.Context, alert_id: int, reason: str, as_json: bool) -> None:
    """Reject a held alert (operator or admin key): it is never sent."""
    _, body = client(ctx).call("POST", f"/api/v1/alerts/{alert_id}/reject", json={"reason": reason})
    emit(body, as_json, "rejected: " + alert_line(body))


def register(main: click.Group) -> None:
    for command in (publish, cancel, status, alerts):
        main.add_command(command)
