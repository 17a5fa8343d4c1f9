"""`warncast serve` as a process of its own, and the `warncast` command run against it, as a user runs them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
WARNCAST = str(BIN / "warncast")
#: Settings a test must not inherit from the shell or from other tests.
CLEARED = ("REDIS_URL", "WARNCAST_REDIS_URL", "WARNCAST_API_URL", "WARNCAST_API_KEY", "WARNCAST_HOST",
           "WARNCAST_PORT", "WARNCAST_DATA_DIR", "WARNCAST_CHANNELS", "WARNCAST_APPROVAL_SEVERITIES",
           "WARNCAST_ADMIN_KEY")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(TERM="dumb", COLUMNS="80", NO_COLOR="1", **extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([WARNCAST, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          input=stdin)


def wait_ready(url: str, proc: subprocess.Popen, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"warncast serve exited with {proc.returncode}: {output(proc)}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"warncast serve did not answer on {url} within {deadline_s} s")


def output(proc: subprocess.Popen) -> str:
    """What the server printed so far (stdout and stderr, kept in a file so a full pipe never blocks it)."""
    proc.log.seek(0)
    return proc.log.read().decode("utf-8", "replace")


def stop(proc: subprocess.Popen) -> None:
    """Ctrl-C, as a user stops it (the process then stops the Redis it started); killed if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def serving(env: dict[str, str], cwd: Path | None = None, args: tuple[str, ...] = ()):
    """`warncast serve` on a free port with the given environment; yields (url, env for the CLI, the process)."""
    port = free_port()
    env = {**env, "WARNCAST_PORT": str(port)}
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([WARNCAST, "serve", *args], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url, {**env, "WARNCAST_API_URL": url}, proc
    finally:
        stop(proc)
