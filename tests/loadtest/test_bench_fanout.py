"""A small run of the fan-out benchmark end to end: every part runs, the JSON has every key, and the
simulators' ledgers and the in-app stream hold each subscriber's message exactly once. No timing bounds:
numbers come from the benchmark itself, on a quiet machine."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("subscribers", "resolve_ms", "first_send_ms", "accepted_s", "receipts_s", "per_s", "floor_per_s",
        "floor_ratio", "usual_per_s", "usual_ratio", "redis_bytes_per_subscriber", "redis_us_per_subscriber", "duplicates",
        "shelter_ms", "shelter_ratio")


def test_small_run_has_every_key_and_every_message_once(tmp_path):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARNCAST_") and k != "REDIS_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest.bench_fanout", "--subscribers", "3000", "--modes", "embedded,distributed_1",
         "--usual-subscribers", "200", "--channel-subscribers", "1000", "--single-subscribers", "100",
         "--timeout", "60", "--json", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    stdout = stderr = ""
    try:
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:             # the benchmark stops what it started, then goes
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    result = json.loads(out.read_text())
    for key in KEYS:
        assert result.get(key) is not None, key
    assert result["subscribers"] == result["targeted"] == result["sent"] == 3000
    assert result["duplicates"] == 0
    assert result["shelter_ledger_ok"] and len(result["shelter_runs_s"]) == 1     # the Shelter warning's run
    assert sum(result["by_channel"].values()) == 3000 and set(result["by_channel"]) == {"hms", "sms", "inapp"}
    assert result["floor_sent"] == 3000 and result["floor_duplicates"] == 0
    assert result["usual"]["usual_accepted"] == 200 and result["usual"]["usual_duplicates"] == 0
    for mode in ("embedded", "distributed_1"):
        m = result["modes"][mode]
        assert m["ledger_ok"] and m["sent"] == 3000 and m["duplicates"] == 0, (mode, m)
    assert result["modes"]["distributed_1"]["peak_rss_mib"]["workers"][0] > 0
    assert set(result["per_channel_per_s"]) == {"hms", "sms", "inapp", "fcm", "apns"}
    assert result["redis_us_per_subscriber"] > 0 and result["redis_commands"]
    assert all(c["ledger_ok"] for c in result["channels"].values()), result["channels"]
    cpu = result["cpu_s"]                   # who spent the run's CPU: the fan-out and the simulators both worked
    assert cpu["api"] > 0 and cpu["simulators"] > 0 and cpu["redis"] > 0
    assert all(c["cpu_s"]["api"] > 0 for c in result["channels"].values()), result["channels"]
    rss = result["peak_rss_mib"]
    assert rss["api"] > 0 and rss["simulators"] > 0 and rss["redis"] > 0
    assert "| per_s" in stdout and "loadtest.bench_fanout --subscribers 3000" in stdout
