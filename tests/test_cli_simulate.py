"""`warncast simulate`: where it listens, the settings it prints, and a clean stop on Ctrl-C or SIGTERM."""
from __future__ import annotations

import signal
import socket
import subprocess

import pytest

from tests.served import WARNCAST, clean_env, free_port, run


def start(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen([WARNCAST, "simulate", *args], env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    exports = {}
    for line in proc.stdout:                     # bounded by the test timeout if it never gets going
        if line.startswith("export "):
            key, _, value = line[7:].strip().partition("=")
            exports[key] = value
        if line.startswith("# simulators running"):
            return proc, exports
    raise AssertionError(f"simulate ended before it ran: {proc.wait()} {proc.stderr.read()}")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_prints_settings_and_stops_cleanly_on_a_signal(sig):
    proc, exports = start("--only", "hms", "--only", "sms", "--host", "127.0.0.1", "--port-base", "0")
    try:
        assert exports["WARNCAST_CHANNELS"] == "hms,sms"
        ports = [int(exports[k].rsplit(":", 1)[1]) for k in ("WARNCAST_HMS_URL", "WARNCAST_SMS_URL")]
        assert all(listening(p) for p in ports)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        rest, err = proc.stdout.read(), proc.stderr.read()
        assert "# simulators stopped" in rest
        assert "Traceback" not in err
        assert not any(listening(p) for p in ports)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_base_sets_the_ports():
    base = free_port()
    proc, exports = start("--only", "hms", "--port-base", str(base))
    try:
        assert exports["WARNCAST_HMS_URL"] == f"http://127.0.0.1:{base}"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_busy_port_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run(["simulate", "--only", "hms", "--port-base", str(port)], clean_env(), timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use: stop that process, or choose other ports with "
        "--port-base (0 picks free ones)"]


def test_unknown_simulator_is_a_usage_error():
    proc = run(["simulate", "--only", "pager"], clean_env(), timeout=60)
    assert proc.returncode == 2
    assert "'pager' is not one of" in proc.stderr
