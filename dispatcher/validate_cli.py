"""``warncast validate FILE…``: check CAP files offline; exit 0 valid, 1 warnings, 2 errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .settings import Settings
from .validation import ERRORS, Report, validate


def _human(name: str, report: Report) -> str:
    label = {0: "valid", 1: "valid, with warnings", 2: "refused"}[report.outcome]
    lines = [f"{name}: {label}"]
    lines += [f"  error    {e.path}: {e.message}" for e in report.errors]
    lines += [f"  warning  {w.path}: {w.message}" for w in report.warnings]
    return "\n".join(lines)


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run, for tools.")
def validate_command(files: tuple[str, ...], as_json: bool) -> None:
    """Check CAP files (XML 1.0/1.1/1.2 or JSON) without sending: exit 0 valid, 1 warnings, 2 errors."""
    settings = Settings.from_env()
    worst, results = 0, []
    for name in files:
        try:
            body = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise click.ClickException(f"cannot read {name}: {exc.strerror or exc}") from None
        report = validate(body, None, settings)
        worst = max(worst, report.outcome)
        results.append({"file": name, **report.as_dict()})
        if not as_json:
            click.echo(_human(name, report))
    if as_json:
        click.echo(json.dumps({"files": results, "exit": worst}, ensure_ascii=False, indent=2))
    sys.exit(min(worst, ERRORS))
