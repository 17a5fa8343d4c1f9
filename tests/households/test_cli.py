"""`warncast households …` and `warncast groups …` as an operator runs them: exit codes, output, no tracebacks."""
import json
import os
import subprocess
import sys
from pathlib import Path

WARNCAST = str(Path(sys.executable).with_name("warncast"))


def warncast(store, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, REDIS_URL=store.url, TERM="dumb", COLUMNS="200")
    proc = subprocess.run([WARNCAST, *args], env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def _subscribers(redis_sync, store, n):
    import asyncio

    from subscribers.store import SubscriberStore

    async def make():
        r = store.aio()
        try:
            return [(await SubscriberStore(r).create({"regions": ["110105"]}))[0].id for _ in range(n)]
        finally:
            await r.aclose()
    return asyncio.run(make())


def test_households_add_list_import_and_remove(store, redis_sync, tmp_path):
    a, b = _subscribers(redis_sync, store, 2)
    proc = warncast(store, "households", "add", "--member", str(b), "--member", str(a),
                    "--contact", "sms:+8613912345678@60", "--delay", "30", "--name", "3-2-501")
    assert proc.returncode == 0 and proc.stdout.strip() == "household 1: 2 member(s), 1 contact(s)"
    listed = json.loads(warncast(store, "households", "list", "--json").stdout)
    assert listed[0]["members"] == [b, a] and listed[0]["contacts"][0]["sms"] == "+86139****5678"
    assert "13912345678" not in warncast(store, "households", "list").stdout
    file = tmp_path / "homes.csv"
    file.write_text(f"external_id,name,region,delay_s,members,contacts\nh-9,9,110105,60,{a},subscriber:{b}@45\n")
    for _ in range(2):
        proc = warncast(store, "households", "import", str(file))
        assert proc.returncode == 0
    assert proc.stdout.strip() == "imported 1 households (0 new, 1 replaced)"
    proc = warncast(store, "households", "remove", "1")
    assert proc.returncode == 0
    proc = warncast(store, "households", "remove", "1")
    assert proc.returncode == 1 and "no household 1" in proc.stderr


def test_bad_input_names_the_field_without_a_traceback(store, redis_sync, tmp_path):
    (a,) = _subscribers(redis_sync, store, 1)
    proc = warncast(store, "households", "add", "--member", str(a), "--contact", "sms:555@60")
    assert proc.returncode == 1 and "contacts[0].sms" in proc.stderr and "555" not in proc.stderr
    file = tmp_path / "homes.ndjson"
    file.write_text('{"members": [424242]}\n')
    proc = warncast(store, "households", "import", str(file))
    assert proc.returncode == 1 and "line 1: members[0]: no subscriber 424242" in proc.stderr


def test_groups_add_list_remove(store, redis_sync):
    a, b = _subscribers(redis_sync, store, 2)
    assert warncast(store, "groups", "add", "school-principals", str(a), str(b)).stdout.strip() == "added 2 to school-principals"
    assert warncast(store, "groups", "list").stdout.strip() == "school-principals\t2"
    assert warncast(store, "groups", "remove", "school-principals", str(a)).returncode == 0
    assert warncast(store, "groups", "list").stdout.strip() == "school-principals\t1"
    proc = warncast(store, "groups", "add", "Bad Name", str(a))
    assert proc.returncode == 1 and "name" in proc.stderr


def test_devices_add_import_and_list(store, redis_sync, tmp_path):
    (a,) = _subscribers(redis_sync, store, 1)
    assert warncast(store, "households", "add", "--member", str(a)).returncode == 0
    proc = warncast(store, "devices", "add", "co-1", "--household", "1", "--kind", "co", "--location", "kitchen")
    assert proc.returncode == 0 and proc.stdout.strip() == "device co-1: co in household 1, warning 50, alarm 150"
    file = tmp_path / "devices.csv"
    file.write_text("id,household,kind,name,location,warning,alarm\nco-1,1,co,,kitchen,40,\ngas-1,1,gas,,boiler,,\n")
    proc = warncast(store, "devices", "import", str(file))
    assert proc.returncode == 0 and proc.stdout.strip() == "imported 2 devices (1 new, 1 replaced)"
    assert warncast(store, "devices", "list").stdout.splitlines() == [
        "co-1\tco\thousehold 1\tkitchen\t40/150 ppm", "gas-1\tgas\thousehold 1\tboiler\t10/25 %LEL"]
    proc = warncast(store, "devices", "add", "x-1", "--household", "99", "--kind", "co")
    assert proc.returncode == 1 and "no household 99" in proc.stderr
