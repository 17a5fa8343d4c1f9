"""The region registry shipped as data."""
from __future__ import annotations

import pytest

from subscribers import regions

#: DESIGN.md's table of Beijing's districts.
DISTRICTS = {
    "110101": ("东城区", "Dongcheng", (39.93, 116.42)),
    "110102": ("西城区", "Xicheng", (39.91, 116.37)),
    "110105": ("朝阳区", "Chaoyang", (39.92, 116.44)),
    "110106": ("丰台区", "Fengtai", (39.86, 116.29)),
    "110107": ("石景山区", "Shijingshan", (39.91, 116.22)),
    "110108": ("海淀区", "Haidian", (39.96, 116.30)),
    "110109": ("门头沟区", "Mentougou", (39.94, 116.10)),
    "110111": ("房山区", "Fangshan", (39.75, 116.14)),
    "110112": ("通州区", "Tongzhou", (39.91, 116.66)),
    "110113": ("顺义区", "Shunyi", (40.13, 116.65)),
    "110114": ("昌平区", "Changping", (40.22, 116.23)),
    "110115": ("大兴区", "Daxing", (39.73, 116.34)),
    "110116": ("怀柔区", "Huairou", (40.32, 116.63)),
    "110117": ("平谷区", "Pinggu", (40.14, 117.12)),
    "110118": ("密云区", "Miyun", (40.38, 116.84)),
    "110119": ("延庆区", "Yanqing", (40.46, 115.97)),
}


@pytest.mark.parametrize(
    "code, valid",
    [
        ("11", True),
        ("1101", True),
        ("110105", True),
        ("110105001", True),
        ("110105001001", True),
        ("1", False),
        ("110", False),
        ("11010", False),
        ("1101050", False),
        ("1101050010010", False),
        ("11a105", False),
        ("１１", False),  # full-width digits
        ("", False),
        (" 11", False),
        (110105, False),
    ],
)
def test_valid_code_format(code, valid):
    assert regions.valid_code_format(code) is valid


def test_districts_match_the_design_table():
    assert regions.district_codes() == sorted(DISTRICTS)
    for code, (zh, en, seat) in DISTRICTS.items():
        assert regions.name(code) == zh
        assert regions.name(code, "en-US") == en
        assert regions.centroid(code) == seat


@pytest.mark.parametrize(
    "code, lang, expected",
    [
        ("11", "zh-CN", "北京市"),
        ("11", "en-US", "Beijing"),
        ("1101", "zh-CN", "市辖区"),
        ("110105001", "zh-CN", "建外街道"),
        ("110105001", "en-US", "Jianwai Subdistrict"),
        ("110105001", "en", "Jianwai Subdistrict"),
        ("110000", "zh-CN", "北京市"),  # zero-padded form of 11
        ("110105000000", "en-US", "Chaoyang"),
        # unknown codes read as their nearest known ancestor plus the code
        ("110105001001", "zh-CN", "建外街道 (110105001001)"),
        ("110105099", "en-US", "Chaoyang (110105099)"),
        ("110120", "zh-CN", "市辖区 (110120)"),
        ("1102", "en-US", "Beijing (1102)"),
        ("310101", "zh-CN", None),
        ("11x", "zh-CN", None),
    ],
)
def test_name(code, lang, expected):
    assert regions.name(code, lang) == expected


def test_centroid_only_for_known_regions():
    assert regions.centroid("110105001") == (39.908, 116.452)
    assert regions.centroid("110105001001") is None
    assert regions.centroid("bad") is None


def test_hierarchy_and_matching_rule():
    assert regions.ancestors("110105001001") == ["110105001", "110105", "1101", "11"]
    assert regions.ancestors("11") == []
    assert regions.normalize("110100") == "1101"
    assert regions.matches("11", "110105001")
    assert regions.matches("110000", "110105001")
    assert regions.matches("110105", "110105")
    assert not regions.matches("110105001", "110105")  # a street alert does not reach a whole district
    assert not regions.matches("110108", "110105001")
    with pytest.raises(ValueError, match="region code"):
        regions.normalize("1101050")


def test_registry_is_loaded_once():
    assert regions.registry() is regions.registry()
    assert len(regions.registry()) >= 2 + 16 + 5
