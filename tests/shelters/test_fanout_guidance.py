"""Shelter guidance in the fan-out: a Shelter warning's push, SMS and in-app texts name the nearest shelter.

Subscribers at known places get the warning through the provider simulators (HMS, FCM, the SMS gateway)
and the inbox; what each device would show is read from the simulators."""
from __future__ import annotations

from dispatcher.shelters import Shelter, ShelterStore
from tests.dispatcher.conftest import open_api
from tests.dispatcher.test_channel_flow import _hms_token, _open
from tests.factories import cap_json

NORTH = Shelter(0, "北园避难场所", "北路1号", "110105", 39.95, 116.44, 500, ["general"],
                name_en="North Park shelter", address_en="1 North Road")
SOUTH = Shelter(0, "南厅避难场所", "南路2号", "110105", 39.89, 116.44, 300, ["flood"],
                name_en="South Hall shelter", address_en="2 South Road")
CLOSED = Shelter(0, "关闭的场所", "东路3号", "110105", 39.94, 116.45, 300, ["flood"], "closed")
NEAR_NORTH = {"lat": 39.94, "lon": 116.44}      # North Park is 1.1 km to the north
NEAR_SOUTH = {"lat": 39.90, "lon": 116.44}      # South Hall is 1.1 km to the south


def _fcm_token(i: int) -> str:
    return f"fcm{i:04d}" + "x" * 120


async def _people(api):
    """Who stands where, on which channel, in which language."""
    reg = api.register
    return {
        "hms_en_north": await reg(regions=["110105"], channels=["hms"], language="en", location=NEAR_NORTH,
                                  endpoints={"hms": _hms_token(1)}),
        "hms_zh_south": await reg(regions=["110105"], channels=["hms"], location=NEAR_SOUTH,
                                  endpoints={"hms": _hms_token(2)}),
        "hms_nowhere": await reg(regions=["110105"], channels=["hms"], endpoints={"hms": _hms_token(3)}),
        "fcm_zh_south": await reg(regions=["110105"], channels=["fcm"], location=NEAR_SOUTH,
                                  endpoints={"fcm": _fcm_token(4)}),
        "fcm_en_north": await reg(regions=["110105"], channels=["fcm"], language="en", location=NEAR_NORTH,
                                  endpoints={"fcm": _fcm_token(5)}),
        "sms_zh_north": await reg(regions=["110105"], channels=["sms"], location=NEAR_NORTH,
                                  endpoints={"sms": "+8613900000006"}),
        "sms_en_south": await reg(regions=["110105"], channels=["sms"], language="en", location=NEAR_SOUTH,
                                  endpoints={"sms": "+8613900000007"}),
        "inapp_en_south": await reg(regions=["110105"], channels=["inapp"], language="en", location=NEAR_SOUTH),
    }


def _texts(sims) -> dict[str, str]:
    return {"hms_en_north": sims.sims["hms"].last_text[_hms_token(1)],
            "hms_zh_south": sims.sims["hms"].last_text[_hms_token(2)],
            "hms_nowhere": sims.sims["hms"].last_text[_hms_token(3)],
            "fcm_zh_south": sims.sims["fcm"].last_text[_fcm_token(4)],
            "fcm_en_north": sims.sims["fcm"].last_text[_fcm_token(5)],
            "sms_zh_north": sims.sims["sms"].last_text["+8613900000006"],
            "sms_en_south": sims.sims["sms"].last_text["+8613900000007"]}


async def _run(store, redis_aio, settings, monkeypatch, doc):
    await ShelterStore(redis_aio).save_many([NORTH, SOUTH, CLOSED])
    sims, cm = await _open(store, settings, monkeypatch, ("hms", "fcm", "sms"), channels=("hms", "fcm", "sms"))
    try:
        async with cm as api:
            people = await _people(api)
            status, alert = await api.publish(doc)
            assert status == 202, alert
            await api.drain()
            texts = _texts(sims)
            _, inbox = await api.call("GET", "/api/v1/inbox", people["inapp_en_south"]["token"])
            return texts, inbox["alerts"][0]
    finally:
        await sims.stop()


async def test_a_shelter_warning_names_each_persons_nearest_open_shelter(store, redis_aio, settings, monkeypatch):
    texts, item = await _run(store, redis_aio, settings, monkeypatch,
                             cap_json(codes=["110105"], response_types=["Shelter"]))
    # FCM sends one message per device: the distance and direction are that person's own
    assert texts["fcm_zh_south"].startswith("最近避难场所：南厅避难场所，向南1.1公里\n")
    assert texts["fcm_en_north"].startswith("nearest shelter: North Park shelter, 1.1 km north\n")
    # HMS multicasts one text to up to 1,000 tokens: it names the shelter and its address
    assert texts["hms_en_north"].startswith("nearest shelter: North Park shelter (1 North Road)\n")
    assert texts["hms_zh_south"].startswith("最近避难场所：南厅避难场所（南路2号）\n")
    assert "shelter" not in texts["hms_nowhere"] and "避难" not in texts["hms_nowhere"]
    # SMS: one short line right after the headline, within the segment limit
    assert "最近避难场所：北园避难场所（北路1号）" in texts["sms_zh_north"]
    assert texts["sms_zh_north"].index("暴雨橙色预警") < texts["sms_zh_north"].index("最近避难场所")
    assert "nearest shelter: South Hall shelter (2 South Road)" in texts["sms_en_south"]
    assert "关闭" not in "".join(texts.values())                     # the closed one is never named
    # in-app: the inbox lists the shelters and carries the line
    assert item["shelter_guidance"].startswith("nearest shelter: South Hall shelter")
    assert [s["name"] for s in item["shelters"]] == ["South Hall shelter", "North Park shelter"]


async def test_other_warnings_carry_no_shelter_line(store, redis_aio, settings, monkeypatch):
    texts, item = await _run(store, redis_aio, settings, monkeypatch, cap_json(codes=["110105"]))
    for who, text in texts.items():
        assert "shelter" not in text and "避难" not in text, who
    assert item["shelter_guidance"] is None
    assert texts["fcm_zh_south"] == texts["hms_zh_south"] == "测试区域：请注意防范"
