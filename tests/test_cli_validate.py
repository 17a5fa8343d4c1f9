"""`warncast validate FILE…`: exit 0 valid, 1 warnings, 2 errors; readable text or --json."""
from __future__ import annotations

import json

import orjson
import pytest
from click.testing import CliRunner

from dispatcher.cli import main
from tests.factories import cap_json


def _write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_bytes(orjson.dumps(doc) if isinstance(doc, dict) else doc)
    return str(path)


def _warned():
    doc = cap_json(languages=("zh-CN",))
    doc["info"][0]["language"] = "fr-CA"
    return doc


CASES = [
    ("valid", cap_json(), 0, "valid"),
    ("warnings", _warned(), 1, "warning  alert/info[0]/language"),
    ("errors", {**cap_json(), "status": "Real"}, 2, "error    alert/status"),
    ("not XML", b"<alert", 2, "error    alert: malformed XML"),
]


@pytest.mark.parametrize("case,doc,code,text", CASES, ids=[c[0] for c in CASES])
def test_exit_code_and_readable_output(tmp_path, case, doc, code, text):
    result = CliRunner().invoke(main, ["validate", _write(tmp_path, "a.cap", doc)])
    assert result.exit_code == code, result.output
    assert text in result.output


def test_worst_file_decides_and_json_lists_each(tmp_path):
    files = [_write(tmp_path, "ok.json", cap_json()), _write(tmp_path, "warn.json", _warned())]
    result = CliRunner().invoke(main, ["validate", "--json", *files])
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert [f["valid"] for f in out["files"]] == [True, True]
    assert [len(f["warnings"]) for f in out["files"]] == [0, 1] and out["exit"] == 1


def test_a_missing_file_is_a_message_not_a_traceback(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.xml")])
    assert result.exit_code != 0 and "Traceback" not in result.output


@pytest.mark.parametrize("args,hint", [(["ftp://x/feed", "--issuer", "bjmb"], "URL"),
                                       (["https://x/feed", "--issuer", "a=b"], "--issuer")])
def test_follow_refuses_bad_arguments_clearly(args, hint):
    result = CliRunner().invoke(main, ["follow", *args])
    assert result.exit_code == 2 and hint in result.output and "Traceback" not in result.output
