from __future__ import annotations

import pytest

from channels.sms_text import (
    compose_sms, encoding, gsm7_decode, gsm7_encode, is_gsm7, segments, septets, split_parts, ucs2_units,
)

EMOJI = "\U0001F600"  # outside the BMP: one surrogate pair, two UCS-2 code units


@pytest.mark.parametrize("text, gsm7, n_septets", [
    ("Hello @ £ $ ¥ è", True, 15),
    ("^{}\\[~]|€", True, 18),
    ("\f", True, 2),
    ("Ä Ö Ñ Ü § ¿ ä ö ñ ü à Δ", True, 23),
    ("café", True, 4),
    ("naïve", False, None),          # ï is not in GSM 03.38
    ("北京", False, None),
    ("smile " + EMOJI, False, None),
    ("`backtick", False, None),
])
def test_gsm7_membership_and_septets(text, gsm7, n_septets):
    assert is_gsm7(text) is gsm7
    assert encoding(text) == ("GSM-7" if gsm7 else "UCS-2")
    if n_septets is not None:
        assert septets(text) == n_septets


@pytest.mark.parametrize("text, expected", [
    ("", 1),
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("a" * 158 + "€", 1),            # 160 septets with the escape pair
    ("a" * 159 + "€", 2),            # 161 septets: the euro sign counts two
    ("[" * 80, 1),                   # 80 extension chars = 160 septets
    ("[" * 81, 2),
    ("中" * 70, 1),
    ("中" * 71, 2),
    ("中" * 134, 2),
    ("中" * 135, 3),
    (EMOJI * 35, 1),                 # 70 code units
    (EMOJI * 36, 2),
    ("中" + EMOJI * 35, 2),          # 71 code units
    ("a" * 160 + "中", 3),            # one CJK char turns all 161 chars into UCS-2
])
def test_segments(text, expected):
    assert segments(text) == expected
    assert len(split_parts(text)) == expected


def test_split_never_breaks_an_escape_pair():
    text = "a" * 152 + "€" + "b" * 10       # the euro's pair would straddle septets 153/154
    parts = split_parts(text)
    assert [septets(p) for p in parts] == [152, 12]
    assert "".join(parts) == text
    assert all(septets(p) <= 153 for p in parts)


def test_split_never_breaks_a_surrogate_pair():
    text = "中" * 66 + EMOJI + "中" * 10      # the emoji would take code units 67 and 68
    parts = split_parts(text)
    assert [ucs2_units(p) for p in parts] == [66, 12]
    assert parts[1].startswith(EMOJI)
    for p in parts:
        p.encode("utf-16-be").decode("utf-16-be")   # each part is valid UTF-16 on its own


@pytest.mark.parametrize("text", ["a" * 500, "€" * 200, "中" * 300, (EMOJI + "x") * 60])
def test_split_parts_respect_limits_and_roundtrip(text):
    parts = split_parts(text)
    assert "".join(parts) == text
    for p in parts:
        if is_gsm7(text):
            assert septets(p) <= 153
        else:
            assert ucs2_units(p) <= 67


def test_gsm7_encoding_roundtrip():
    text = "Warning: [flood] {level} ~3~ €5 | Δ @home ^"
    raw = gsm7_encode(text)
    assert len(raw) == septets(text)
    assert gsm7_decode(raw) == text
    with pytest.raises(ValueError):
        gsm7_encode("中")


SIG_ZH = "北京市预警信息发布中心"


@pytest.mark.parametrize("kwargs, max_parts, must_contain, must_not_contain", [
    # everything fits
    (dict(headline="暴雨蓝色预警", area="朝阳区", instruction="请注意防范。", body="详见官网。", lang="zh"),
     1, ["【北京市预警信息发布中心】", "暴雨蓝色预警", "朝阳区", "请注意防范", "详见官网"], []),
    # body too long: shortened first (with an ellipsis), the rest intact
    (dict(headline="暴雨橙色预警", area="朝阳区、海淀区", instruction="请减少外出。", body="详情" * 200, lang="zh"),
     2, ["暴雨橙色预警", "朝阳区、海淀区", "请减少外出", "…"], []),
    # instruction too long with no room for body: body gone, instruction cut with an ellipsis
    (dict(headline="暴雨红色预警", area="全市", instruction="立即停止户外活动" * 40, body="不会出现的正文", lang="zh"),
     1, ["暴雨红色预警", "全市", "立即停止", "…"], ["不会出现的正文"]),
    # English with an ASCII signature: [signature], stays GSM-7 with a "..." ellipsis
    (dict(headline="Rainstorm orange warning", area="Chaoyang", instruction="Stay indoors. " * 30, lang="en",
          signature="Beijing Warning Center"),
     1, ["[Beijing Warning Center] ", "Rainstorm orange warning", "Chaoyang", "Stay indoors", "..."], ["…", "【"]),
    # English text with a Chinese signature keeps the 【】 brackets
    (dict(headline="Heat warning", area="Haidian", instruction="Drink water.", lang="en"),
     1, ["【北京市预警信息发布中心】", "Heat warning"], ["["]),
])
def test_compose_sms_keeps_priorities(kwargs, max_parts, must_contain, must_not_contain):
    kwargs.setdefault("signature", SIG_ZH)
    text = compose_sms(max_parts=max_parts, **kwargs)
    assert segments(text) <= max_parts
    for piece in must_contain:
        assert piece in text
    for piece in must_not_contain:
        assert piece not in text


def test_compose_sms_uses_the_room_it_has():
    text = compose_sms(headline="暴雨橙色预警", area="朝阳区", instruction="请减少外出" * 100, signature=SIG_ZH,
                       max_parts=3, lang="zh")
    assert segments(text) == 3
    assert ucs2_units(text) > 2 * 67          # truncated no more than needed


def test_compose_sms_never_cuts_a_surrogate_pair():
    for n in range(1, 40):
        text = compose_sms(headline="Flood", area="Area " + "x" * n, instruction=EMOJI * 80, signature=SIG_ZH,
                           max_parts=1, lang="en")
        assert segments(text) == 1
        text.encode("utf-16-be").decode("utf-16-be")
        assert "\ud83d" not in text


def test_compose_sms_cuts_area_after_instruction_is_gone():
    text = compose_sms(headline="暴雨红色预警", area="区" * 200, instruction="请撤离", signature=SIG_ZH,
                       max_parts=1, lang="zh")
    assert text.startswith("【北京市预警信息发布中心】暴雨红色预警，区")
    assert "请撤离" not in text
    assert text.endswith("…") and segments(text) == 1
