"""The SMS an alert renders to: headline, area and what to do, each once."""
import pytest

from dispatcher.cap.parse_json import parse_json
from dispatcher.estimate import dry_record
from dispatcher.render import Renderer
from tests.factories import cap_json


@pytest.mark.parametrize("lang, instruction, description", [("zh-CN", "请注意防范", "预计有暴雨"),
                                                            ("en-US", "Stay indoors", "Heavy rain expected")])
def test_an_instruction_is_written_once_and_stands_for_the_description(lang, instruction, description):
    rec = dry_record(parse_json(cap_json()), [])
    text = Renderer(sms_signature="北京市预警信息发布中心").notice(rec, "sms", lang).body
    assert text.count(instruction) == 1
    assert description not in text


def test_without_an_instruction_the_description_is_sent():
    doc = cap_json(languages=("en-US",))
    del doc["info"][0]["instruction"]
    text = Renderer().notice(dry_record(parse_json(doc), []), "sms", "en-US").body
    assert text.count("Heavy rain expected") == 1 and "Rainstorm warning" in text
