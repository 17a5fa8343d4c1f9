"""`warncast demo --sensors` as a person runs it: alarms in three homes, two confirmed, one escalated, all cleared."""
import os
import subprocess
import sys
from pathlib import Path

WARNCAST = str(Path(sys.executable).with_name("warncast"))


def test_demo_with_sensors_shows_the_alarms_and_one_escalation(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARNCAST_", "REDIS_URL"))}
    env.update(WARNCAST_DATA_DIR=str(tmp_path), TERM="dumb", COLUMNS="200")
    proc = subprocess.run([WARNCAST, "demo", "--subscribers", "300", "--devices", "2", "--sensors"], env=env,
                          capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    assert "3 Private alarms" in out
    assert "its building manager was alerted with a CAP Update" in out
    assert out.count("confirmed:") == 2 and "cleared: 楼管" in out
