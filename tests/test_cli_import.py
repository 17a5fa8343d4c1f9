"""`warncast subscribers import FILE` as a user runs it: a process, its exit code and what it prints."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dispatcher import keys

WARNCAST = str(Path(sys.executable).with_name("warncast"))


def run_import(store, path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, REDIS_URL=store.url, TERM="dumb")
    return subprocess.run([WARNCAST, "subscribers", "import", str(path)], env=env, capture_output=True,
                          text=True, timeout=120)


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def stored(redis_sync) -> int:
    return sum(redis_sync.hlen(k) for k in redis_sync.keys(keys.records(0).replace("{s0}", "{s*}")))


@pytest.mark.parametrize("name, content, count", [
    ("people.ndjson", b"".join(orjson.dumps({"regions": [f"110105{i:03d}"], "language": "en"}) + b"\n"
                               for i in range(1, 18)) + b"\n", 17),
    ("people.csv", b"regions,sms,min_severity\n110105,13800138000,Severe\n110108;11,,\n110115,+8613900139000,\n", 3),
])
def test_good_file_is_imported(store, redis_sync, tmp_path, name, content, count):
    path = tmp_path / name
    path.write_bytes(content)
    proc = run_import(store, path)
    assert proc.returncode == 0, proc.stderr
    assert f"imported {count} subscribers" in proc.stdout
    assert_no_traceback(proc)
    assert stored(redis_sync) == count
    assert int(redis_sync.get(keys.SUBSCRIBER_SEQ)) == count


LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.+)$")


@pytest.mark.parametrize("name, content, expected", [
    ("bad.ndjson",
     b'{"regions": ["110105"]}\n{"regions": ["1101050"]}\n\n{"regions": ["110105"]\n'
     b'{"regions": ["110105"], "endpoints": {"sms": "12345"}}\n{"regions": ["110105"]}\n',
     [("bad.ndjson", 2, "regions[0]"), ("bad.ndjson", 4, "json"), ("bad.ndjson", 5, "endpoints.sms")]),
    ("bad.csv", b"regions,sms\n110105,13800138000\n110108,13800138000,extra\n11010,\n",
     [("bad.csv", 3, "row"), ("bad.csv", 4, "regions[0]")]),
    ("columns.csv", b"regions,phone\n110105,13800138000\n", [("columns.csv", 1, "header")]),
    ("latin1.ndjson", '{"regions": ["110105"]}\n{"regions": ["110105"], "language": "fr"} # café\n'.encode("latin-1"),
     [("latin1.ndjson", 2, "file")]),
])
def test_bad_file_imports_nothing_and_names_each_problem(store, redis_sync, tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    proc = run_import(store, path)
    assert proc.returncode != 0
    assert_no_traceback(proc)
    problems = [m for m in map(LINE.match, proc.stderr.splitlines()) if m]
    assert [(m["file"], int(m["line"]), m["field"]) for m in problems] == expected
    assert all(m["message"].strip() for m in problems)
    assert f"{len(expected)} problem(s)" in proc.stderr and "nothing was imported" in proc.stderr
    assert "imported" not in proc.stdout.replace("nothing was imported", "")
    assert stored(redis_sync) == 0
    assert redis_sync.keys("wc:*") == []


def test_many_problems_are_capped_with_a_count(store, redis_sync, tmp_path):
    path = tmp_path / "many.ndjson"
    path.write_bytes(b'{"regions": ["1"]}\n' * 250)
    proc = run_import(store, path)
    assert proc.returncode != 0
    assert_no_traceback(proc)
    assert len([line for line in proc.stderr.splitlines() if LINE.match(line)]) == 200
    assert "… and 50 more" in proc.stderr
    assert "250 problem(s) in 250 lines; nothing was imported" in proc.stderr
    assert stored(redis_sync) == 0


def test_missing_file_is_a_usage_error(store, tmp_path):
    proc = run_import(store, tmp_path / "nope.csv")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    assert_no_traceback(proc)


def test_importing_the_same_file_again_changes_nothing(store, redis_sync, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"external_id,regions,sms\nhh-1,110105,+8613800138001\nhh-2,110108001,+8613800138002\n")
    first = run_import(store, path)
    assert first.returncode == 0, first.stderr
    assert "imported 2 subscribers: 2 created, 0 updated, 0 skipped" in first.stdout
    again = run_import(store, path)
    assert again.returncode == 0, again.stderr
    assert_no_traceback(again)
    assert again.stdout.splitlines()[-3:] == [
        "people.csv:2: skipped: unchanged (subscriber 0)", "people.csv:3: skipped: unchanged (subscriber 1)",
        "imported 0 subscribers: 0 created, 0 updated, 2 skipped"]
    assert stored(redis_sync) == 2


def test_unknown_region_is_refused_like_a_bad_one(store, redis_sync, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"regions\n110105\n999999\n")
    proc = run_import(store, path)
    assert proc.returncode == 1
    assert "people.csv:3: regions[0]: 999999 is not in the region registry: no alert could reach it" in proc.stderr
    assert stored(redis_sync) == 0
