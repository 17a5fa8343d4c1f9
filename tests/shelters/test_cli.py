"""`warncast shelters import|list|open|close` as an operator runs them: processes, exit codes, output."""
import os
import subprocess
import sys
from pathlib import Path

from tests.factories import cap_json

WARNCAST = str(Path(sys.executable).with_name("warncast"))
SAMPLE = Path(__file__).resolve().parents[2] / "dispatcher" / "samples" / "shelters_beijing_synthetic.csv"


def warncast(store, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, REDIS_URL=store.url, TERM="dumb")
    proc = subprocess.run([WARNCAST, "shelters", *args], env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def test_import_list_close_and_open(store, redis_sync):
    proc = warncast(store, "import", str(SAMPLE))
    assert proc.returncode == 0 and "imported 72 shelters (72 new, 0 replaced)" in proc.stdout
    proc = warncast(store, "import", str(SAMPLE))
    assert "(0 new, 72 replaced)" in proc.stdout
    proc = warncast(store, "list", "--district", "110105")
    assert proc.stdout.strip().splitlines()[-1] == "5 shelters"
    proc = warncast(store, "close", "1", "2")
    assert proc.returncode == 0 and proc.stdout.strip() == "closed: 2 shelters (1, 2)"
    closed = warncast(store, "list", "--status", "closed").stdout.splitlines()
    assert closed[-1] == "8 shelters"                        # the 6 closed in the file and these two
    assert warncast(store, "open", "1").stdout.strip() == "open: 1 shelters (1)"
    proc = warncast(store, "open", "999")
    assert proc.returncode == 1 and "no shelter 999" in proc.stderr


def test_open_every_shelter_in_an_alerts_area(store, redis_sync, tmp_path):
    import asyncio

    from dispatcher import cap
    from dispatcher.alerts import AlertStore
    warncast(store, "import", str(SAMPLE))

    async def accept():
        redis = store.aio()
        try:
            rec, _ = await AlertStore(redis).accept(cap.parse_json(cap_json(codes=["110119"])), "test")
            return rec.id
        finally:
            await redis.aclose()
    alert_id = asyncio.run(accept())
    proc = warncast(store, "open", "--alert", str(alert_id))
    assert proc.returncode == 0 and proc.stdout.startswith("open: 4 shelters")


def test_a_bad_file_names_line_and_field_and_imports_nothing(store, redis_sync, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,address,district,lat,lon,capacity,kinds\nA,x,110105,39.9,116.4,10,flood\n"
                    "B,x,110105,39.9,116.4,ten,flood\n", encoding="utf-8")
    proc = warncast(store, "import", str(path))
    assert proc.returncode == 1
    assert "bad.csv:3: capacity: must be a whole number" in proc.stderr and "nothing was imported" in proc.stderr
    assert warncast(store, "list").stdout.strip() == "0 shelters"
