"""The README works as written: every command in its ```sh blocks runs, in order, as a stranger runs it.

Blocks marked ```sh are executed; ```text blocks are illustrations. The commands run in one bash
session (so `export` carries over) from a directory that looks like a fresh checkout, against a
`warncast serve` of their own: its own data dir, a free port (WARNCAST_PORT), nothing inherited
from the shell. A command that starts a server (`warncast serve`, `simulate`, `worker`) is
started in the background, as the README asks a reader to leave it running. A failure names the
README line, the command and what it printed.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.served import clean_env, free_port, stop

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^\s*```(\w*)\s*$")
#: Commands that keep running: started in the background, stopped at the end.
BACKGROUND = re.compile(r"^(?:\w+=\S*\s+)*(?:\.venv/bin/)?warncast\s+(serve|simulate|worker)\b")
#: How long the whole README may take (it has no long-running scenario in it).
DEADLINE_S = 300


@dataclass
class Command:
    line: int       #: README line the command starts on
    text: str

    def __str__(self) -> str:
        first, *rest = self.text.splitlines()
        return f"README.md:{self.line}: {first}" + (" …" if rest else "")


def complete(text: str) -> bool:
    """Whether the shell would run this text as it is (no open quote, no trailing backslash)."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return True


def sh_commands(markdown: str) -> list[Command]:
    """Every command of every ```sh block, with the line it starts on; continued lines joined."""
    out: list[Command] = []
    kind, pending, start = None, [], 0
    for n, line in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and kind is None:
            kind = fence.group(1) or "plain"
            continue
        if fence and kind is not None and fence.group(1) == "":
            assert not pending, f"README.md:{start}: command not finished when its block ends"
            kind = None
            continue
        if kind != "sh":
            continue
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = n
        pending.append(line)
        text = "\n".join(pending)
        if complete(text):
            out.append(Command(start, text.strip()))
            pending = []
    return out


def script(commands: list[Command], out: Path, port: int) -> str:
    """One bash session: each command's output to its own file; stop at the first failure, naming it."""
    # job control: each background command gets a process group of its own, and keeps Ctrl-C
    # (SIGINT), which a non-interactive shell's background jobs would otherwise ignore
    parts = ["set -u -m", f"__OUT={shlex.quote(str(out))}"]
    for i, c in enumerate(commands):
        if BACKGROUND.match(c.text):
            parts.append(f"{{ {c.text}\n}} > \"$__OUT/{i}.out\" 2>&1 &\necho $! >> \"$__OUT/background\"")
            if re.search(r"warncast\s+serve\b", c.text):
                parts.append(_wait_ready(i, port))
            continue
        parts.append(f"echo {i} > \"$__OUT/current\"\n{{ {c.text}\n}} > \"$__OUT/{i}.out\" 2>&1\n"
                     f"__rc=$?\nif [ $__rc -ne 0 ]; then echo \"{i} $__rc\" > \"$__OUT/failed\"; exit 1; fi")
    parts.append("env > \"$__OUT/env\"")
    return "\n".join(parts) + "\n"


def _wait_ready(i: int, port: int) -> str:
    return (f"for __n in $(seq 600); do curl -s -o /dev/null http://127.0.0.1:{port}/healthz && break; "
            f"sleep 0.1; done\ncurl -s -o /dev/null http://127.0.0.1:{port}/healthz || "
            f"{{ echo \"{i} not-ready\" > \"$__OUT/failed\"; exit 1; }}")


def checkout(tmp: Path) -> Path:
    """A directory that looks like a fresh clone with `make` run: the repository's files, linked."""
    work = tmp / "checkout"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("var", ".git", ".pytest_cache"):
            (work / entry.name).symlink_to(entry)
    return work


def stop_background(out: Path) -> None:
    pids = (out / "background").read_text().split() if (out / "background").exists() else []
    for pid in map(int, pids):
        proc = _Pid(pid)
        stop(proc)


class _Pid:
    """Enough of Popen for tests.served.stop: a background job (a process group) this test started
    through bash; signals go to the whole group, as Ctrl-C in a terminal does."""

    def __init__(self, pid: int):
        self.pid = pid

    def poll(self):
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return 0
        return None

    def send_signal(self, sig) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float):
        import time
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("warncast", timeout)
            time.sleep(0.05)

    def kill(self) -> None:
        self.send_signal(9)


def test_the_parser_finds_commands_where_they_start(tmp_path):
    md = ("text\n```sh\n# a comment\nexport A=1   # why\ncurl -d '{\n  \"a\": 1}' \\\n  http://x\n\n```\n"
          "```text\nwarncast not-run\n```\n```sh\necho done\n```\n")
    assert [(c.line, c.text) for c in sh_commands(md)] == [
        (4, "export A=1   # why"), (5, "curl -d '{\n  \"a\": 1}' \\\n  http://x"), (14, "echo done")]


def test_every_readme_command_runs_as_written(tmp_path):
    commands = sh_commands(README.read_text(encoding="utf-8"))
    texts = "\n".join(c.text for c in commands)
    for needed in ("warncast serve", "keys create", "publish --now", "status", "cancel", "/api/v1/subscribers",
                   "/api/v1/receipts"):
        assert needed in texts, f"the README's ```sh blocks no longer show {needed!r}"
    work, out = checkout(tmp_path), tmp_path / "out"
    out.mkdir()
    port = free_port()
    env = clean_env(WARNCAST_PORT=str(port), WARNCAST_DATA_DIR=str(tmp_path / "var"), HOME=str(tmp_path))
    (tmp_path / "readme.sh").write_text(script(commands, out, port))
    try:
        proc = subprocess.run(["bash", str(tmp_path / "readme.sh")], cwd=work, env=env, capture_output=True,
                              text=True, timeout=DEADLINE_S)
        if (out / "failed").exists():
            i, rc = (out / "failed").read_text().split()
            printed = (out / f"{i}.out").read_text(errors="replace") if (out / f"{i}.out").exists() else ""
            if rc == "not-ready":
                pytest.fail(f"{commands[int(i)]}\nthe server did not answer on port {port}:\n{printed}")
            pytest.fail(f"{commands[int(i)]}\nexited {rc}; it printed:\n{printed}")
        assert proc.returncode == 0, f"the README's commands stopped: {proc.stderr}"
        final = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines() if "=" in line)
        outcome(f"http://127.0.0.1:{port}", final.get("WARNCAST_API_KEY", ""))
    finally:
        stop_background(out)


def outcome(url: str, key: str) -> None:
    """Where a reader ends up: the sample alert published, delivered to the subscriber, then cancelled."""
    assert key.startswith("wk_"), "the README never exports WARNCAST_API_KEY"
    got = httpx.get(f"{url}/api/v1/alerts/1", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    assert got["lifecycle"] == "cancelled", got["lifecycle"]
    assert got["stats"]["targeted"] >= 1 and got["stats"]["totals"]["delivered"] >= 1, got["stats"]
