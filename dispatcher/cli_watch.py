"""`warncast status ID --watch`: follow an alert's server-sent progress with a bar until it is done."""
from __future__ import annotations

import json
import sys

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .cli_client import ApiClient

#: States that end a subscriber's send: the bar counts them against the targeted.
SETTLED = ("sent", "failed", "expired", "cancelled")


def settled(stats: dict) -> int:
    totals = stats.get("totals") or {}
    return sum(int(totals.get(s, 0)) for s in SETTLED)


def events(lines):
    """(event, data) pairs from the lines of a text/event-stream."""
    name, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def watch_alert(api: ApiClient, alert_id: int) -> None:
    """Show a progress bar from the alert's event stream until its `done` event."""
    api.call("GET", f"/api/v1/alerts/{alert_id}")          # a missing alert or a bad key: one line, exit 1
    url = f"{api.where.url}/api/v1/alerts/{alert_id}/events"
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as bar, \
                httpx.stream("GET", url, headers=api.headers(), timeout=httpx.Timeout(30, read=None)) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise api.refused(resp.status_code, api.json_of(resp))
            task = bar.add_task(f"alert {alert_id}", total=None)
            for name, data in events(resp.iter_lines()):
                life = data.get("lifecycle", "")
                total = int(data.get("targeted") or 0) or None
                label = f"alert {alert_id} {life}" + (": waiting for approval" if life == "held" else "")
                bar.update(task, description=label, total=total,
                           completed=settled(data) if "totals" in data else bar.tasks[0].completed)
                if name == "done":
                    break
    except httpx.HTTPError as exc:
        raise api.unreachable(exc) from None
    except KeyboardInterrupt:
        sys.exit(130)
