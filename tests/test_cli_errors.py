"""Every way a first run goes wrong ends in one line naming what to do and a non-zero exit, never a traceback."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.served import clean_env, free_port, run, serving

SAMPLE = str(Path(__file__).resolve().parents[1] / "dispatcher" / "samples" / "rainstorm_red.xml")


def one_line(proc) -> str:
    """The single line the command printed on stderr (and nothing else that looks like a traceback)."""
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def server(store):
    """A real `warncast serve` on the test Redis, and an issuer key made with the CLI."""
    with serving(clean_env(REDIS_URL=store.url)) as (url, env, _):
        made = run(["keys", "create", "--name", "bjmb", "--role", "issuer", "--scope", "11"], env)
        assert made.returncode == 0, made.stderr
        yield url, env, made.stdout.strip()


@pytest.mark.parametrize("args", [["publish", "--now", SAMPLE], ["status", "1"], ["cancel", "1"],
                                  ["alerts", "list"]])
def test_server_not_running_is_one_line_naming_serve(args):
    url = f"http://127.0.0.1:{free_port()}"
    proc = run(args, clean_env(WARNCAST_API_URL=url, WARNCAST_API_KEY="wk_anything"))
    assert proc.returncode == 1
    line = one_line(proc)
    assert line == (f"Error: cannot reach the warncast API at {url} (connection refused): start it with "
                    "`warncast serve`, or point WARNCAST_API_URL or --api-url at it")


@pytest.mark.parametrize("env, args, source", [
    ({"WARNCAST_API_URL": "127.0.0.1:8080"}, ["status", "1"], "WARNCAST_API_URL is '127.0.0.1:8080'"),
    ({"WARNCAST_API_URL": "localhost"}, ["publish", SAMPLE], "WARNCAST_API_URL is 'localhost'"),
    ({}, ["--api-url", "ftp://example.org", "cancel", "1"], "--api-url is 'ftp://example.org'"),
])
def test_api_url_without_a_scheme_is_a_setting_error(env, args, source):
    proc = run(args, clean_env(WARNCAST_API_KEY="wk_anything", **env))
    assert proc.returncode == 2
    assert one_line(proc) == f"Error: {source}: it needs http:// or https:// and a host, e.g. http://127.0.0.1:8080"


def test_port_in_use_is_one_line_and_touches_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        proc = run(["serve", "--port", str(port)], clean_env(WARNCAST_DATA_DIR=str(data)), timeout=60)
    assert proc.returncode == 1
    assert one_line(proc) == (f"Error: port {port} on 127.0.0.1 is already in use (another `warncast serve`?): "
                              "stop that process, or choose another port with --port or WARNCAST_PORT")
    assert not data.exists()       # no Redis was started for a server that could not listen


def test_wrong_key_says_unknown_or_revoked(server):
    url, env, _ = server
    proc = run(["status", "1"], {**env, "WARNCAST_API_KEY": "wk_not-a-key-anyone-made"})
    assert proc.returncode == 1
    assert one_line(proc) == ("Error: the API refused the key: it is unknown or revoked (status 401); check "
                              "WARNCAST_API_KEY, or create a key with `warncast keys create`")
    proc = run(["--key", "wk_revoked", "alerts", "list"], env)
    assert proc.returncode == 1
    assert "unknown or revoked" in one_line(proc) and "check --key" in one_line(proc)


def test_missing_key_names_both_ways_to_give_one(server):
    url, env, _ = server
    proc = run(["publish", SAMPLE], env)
    assert proc.returncode == 2
    assert one_line(proc).startswith("Error: no API key: set WARNCAST_API_KEY or pass --key")


def test_global_options_replace_the_environment(server):
    url, env, key = server
    bare = clean_env()                                   # neither WARNCAST_API_URL nor WARNCAST_API_KEY
    proc = run(["--api-url", url, "--key", key, "publish", "--now", SAMPLE], bare)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("alert ")
    assert "Traceback" not in proc.stderr


def test_an_expired_alert_names_the_field(server):
    url, env, key = server
    proc = run(["publish", SAMPLE], {**env, "WARNCAST_API_KEY": key})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "Error: alert has expired (status 422)",
        "  alert/info/expires: expired at 2026-07-30T20:00:00+08:00; nothing would be sent"]


def test_redis_not_reachable_is_one_line():
    url = f"redis://127.0.0.1:{free_port()}/0"
    proc = run(["keys", "create", "--name", "ops", "--role", "operator"], clean_env(REDIS_URL=url))
    assert proc.returncode == 1
    line = one_line(proc)
    assert line.startswith("Error: cannot reach Redis (") and line.endswith(
        "): check REDIS_URL, or leave it unset to use the embedded one under WARNCAST_DATA_DIR")


@pytest.mark.parametrize("setting, value, said", [
    ("WARNCAST_PORT", "abc", "WARNCAST_PORT: expected a whole number, got 'abc'"),
    ("WARNCAST_LEASE_S", "nan", "WARNCAST_LEASE_S: expected a number, got 'nan'"),
    ("WARNCAST_RATE_LIMITS", "sms=x", "WARNCAST_RATE_LIMITS: expected channel=number, got 'sms=x'"),
    ("WARNCAST_SENTINELS", "redis-a", "WARNCAST_SENTINELS: expected host:port, got 'redis-a'"),
])
def test_a_setting_that_cannot_be_used_is_named_in_one_line(setting, value, said):
    proc = run(["serve", "--port", str(free_port())], clean_env(**{setting: value}))
    assert proc.returncode == 1
    assert one_line(proc) == f"Error: setting {said}"
