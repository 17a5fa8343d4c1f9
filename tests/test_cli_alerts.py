"""The alert commands as an issuer and an operator run them: what they print, at 80 columns, and exit codes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import orjson
import pytest

from dispatcher.cli_format import columns
from tests.factories import cap_json
from tests.served import clean_env, run, serving

SAMPLES = Path(__file__).resolve().parents[1] / "dispatcher" / "samples"
HEAD = re.compile(r"^alert (?P<id>\d+) · (?P<type>\w+) · Actual · (?P<sev>\w+) · (?P<life>\w+)$")


@pytest.fixture(scope="module")
def cli(store, tmp_path_factory):
    """A serve that holds Severe alerts for approval, an issuer and an operator key, one subscriber."""
    client = store.sync()
    client.flushall()
    client.close()
    with serving(clean_env(REDIS_URL=store.url, WARNCAST_APPROVAL_SEVERITIES="Severe")) as (url, env, _):
        keys = {}
        for name, args in (("issuer", ["--role", "issuer", "--scope", "11"]), ("operator", ["--role", "operator"])):
            made = run(["keys", "create", "--name", name, *args], env)
            assert made.returncode == 0, made.stderr
            keys[name] = made.stdout.strip()
        reg = httpx.post(f"{url}/api/v1/subscribers", json={"regions": ["110105001001"], "language": "en"})
        assert reg.status_code == 201
        yield Cli(url, env, keys, tmp_path_factory.mktemp("alerts"))


class Cli:
    def __init__(self, url, env, keys, tmp):
        self.url, self.env, self.keys, self.tmp = url, env, keys, tmp

    def __call__(self, *args: str, who: str = "issuer"):
        return run(list(args), {**self.env, "WARNCAST_API_KEY": self.keys[who]})

    def sample(self, name: str) -> Path:
        """A copy of a bundled sample under an identifier of its own: two `publish --now` of the same
        sample within one second are one CAP message (same sender, identifier and sent) and dedupe."""
        path = self.tmp / f"{len(list(self.tmp.iterdir()))}-{name}"
        text = (SAMPLES / name).read_text(encoding="utf-8")
        path.write_text(text.replace("bjmb-20260730140000-rainstorm-red", f"bjmb-rainstorm-red-{path.stem}"),
                        encoding="utf-8")
        return path

    def held(self) -> int:
        path = self.tmp / f"severe-{len(list(self.tmp.iterdir()))}.json"
        path.write_bytes(orjson.dumps(cap_json(codes=["110105"], severity="Severe")))
        proc = self("publish", str(path), "--json")
        assert proc.returncode == 0, proc.stderr
        body = json.loads(proc.stdout)
        assert body["lifecycle"] == "held"
        return body["id"]


def fits(text: str) -> None:
    wide = [line for line in text.splitlines() if columns(line) > 80]
    assert not wide, f"wider than 80 columns: {wide}"


def test_publish_prints_a_short_summary(cli):
    proc = cli("publish", "--now", str(cli.sample("rainstorm_red.xml")))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    head = HEAD.match(lines[0])
    assert head and head["type"] == "Alert" and head["sev"] == "Extreme" and head["life"] in ("sending", "done")
    alert_id = head["id"]
    assert "  targeted: 1" in lines
    assert f"  status:   warncast status {alert_id} --watch" in lines
    assert f"  links:    {cli.url}/api/v1/alerts/{alert_id}" in lines
    fits(proc.stdout)


def test_publish_json_prints_the_whole_answer(cli):
    proc = cli("publish", "--now", "--json", str(cli.sample("rainstorm_red.json")))
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["msgType"] == "Alert" and body["created"] is True and body["links"]["self"].endswith(str(body["id"]))


def test_status_watch_follows_to_the_end_then_shows_readable_columns(cli):
    proc = cli("publish", "--now", "--json", str(cli.sample("rainstorm_red.xml")))
    alert_id = json.loads(proc.stdout)["id"]
    watched = cli("status", str(alert_id), "--watch")
    assert watched.returncode == 0, watched.stderr
    assert re.search(rf"alert {alert_id} done .*1/1", watched.stderr)          # the bar reached the end
    out = watched.stdout.splitlines()
    assert HEAD.match(out[0])["life"] == "done" and HEAD.match(out[0])["type"] == "Alert"
    table = out[out.index("") + 1:]
    assert table[0].split() == ["all", "inapp"]
    rows = {line.split()[0]: line.split()[1:] for line in table[1:] if line.split()}
    assert rows["targeted"] == ["1"] and rows["sent"] == ["1", "1"]
    assert "…" not in "\n".join(table)
    fits(watched.stdout)


def test_alerts_list_one_line_each(cli):
    proc = cli("alerts", "list", "--limit", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["id", "type", "severity", "lifecycle", "headline"]
    assert len(lines) == 4
    fits(proc.stdout)


def test_operator_rejects_and_the_issuer_reads_why(cli):
    alert_id = cli.held()
    shown = cli("status", str(alert_id))
    assert "waiting for an operator's approval" in shown.stdout
    refused = cli("alerts", "reject", str(alert_id), "--reason", "x", who="issuer")
    assert refused.returncode == 1 and "needs the role operator or admin" in refused.stderr
    proc = cli("alerts", "reject", str(alert_id), "--reason", "wrong district: the storm is over Haidian",
               who="operator")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].endswith(f"alert {alert_id} · Alert · Actual · Severe · rejected")
    seen = cli("status", str(alert_id))
    assert "  rejected by operator: wrong district: the storm is over Haidian" in seen.stdout.splitlines()
    again = cli("alerts", "approve", str(alert_id), who="operator")
    assert again.returncode == 1
    assert again.stderr.splitlines() == [f"Error: alert {alert_id} is rejected, not waiting for approval (status 409)"]


def test_operator_approves_and_it_is_sent(cli):
    alert_id = cli.held()
    proc = cli("alerts", "approve", str(alert_id), who="operator")
    assert proc.returncode == 0, proc.stderr
    assert HEAD.match(proc.stdout.splitlines()[0].removeprefix("approved: "))["life"] in ("sending", "done")
    assert "  targeted: 1" in proc.stdout.splitlines()


def test_reject_needs_a_reason(cli):
    proc = cli("alerts", "reject", "1", who="operator")
    assert proc.returncode == 2 and "Missing option '--reason'" in proc.stderr


def test_cancel_with_a_note(cli):
    published = cli("publish", "--now", "--json", str(cli.sample("rainstorm_red.xml")))
    alert_id = json.loads(published.stdout)["id"]
    proc = cli("cancel", str(alert_id), "--note", "The rain has eased")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"alert {alert_id}: cancelled; the CAP Cancel that tells those reached:"
    cancel = HEAD.match(lines[1])
    assert cancel["type"] == "Cancel"
    fits(proc.stdout)
    got = httpx.get(f"{cli.url}/api/v1/alerts/{cancel['id']}",
                    headers={"Authorization": f"Bearer {cli.keys['issuer']}"}).json()
    assert got["cap"]["note"] == "The rain has eased"
    assert cli("status", str(alert_id)).stdout.splitlines()[0].endswith("· cancelled")
