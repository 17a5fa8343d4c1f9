"""What an approver sees changed between two versions: fields that differ, with insertions and deletions."""
from __future__ import annotations

import pytest

from dispatcher.draft_diff import diff, runs


@pytest.mark.parametrize("before, after, expected", [
    ("暴雨橙色预警", "暴雨红色预警", [("same", "暴雨"), ("delete", "橙"), ("insert", "红"), ("same", "色预警")]),
    ("Stay indoors", "Stay indoors now", [("same", "Stay indoors"), ("insert", " now")]),
    ("", "new text", [("insert", "new text")]),
    ("same", "same", [("same", "same")]),
])
def test_runs_turn_the_old_text_into_the_new(before, after, expected):
    assert [(r["op"], r["text"]) for r in runs(before, after)] == expected


def test_only_changed_fields_are_listed_nested_and_lists_included():
    old = {"level": "orange", "texts": {"en": {"headline": "A", "event": "Rain"}}, "area": {"codes": ["110105"]}}
    new = {"level": "red", "texts": {"en": {"headline": "A", "event": "Rain"}}, "area": {"codes": ["110105", "110108"]},
           "sender_name": "BJ"}
    changes = {c["field"]: (c["before"], c["after"]) for c in diff(old, new)}
    assert changes == {"level": ("orange", "red"), "area.codes": ("110105", "110105; 110108"), "sender_name": ("", "BJ")}


def test_very_long_texts_are_shown_whole_rather_than_compared_run_by_run():
    out = runs("a" * 5000, "b" * 5000)
    assert out == [{"op": "delete", "text": "a" * 5000}, {"op": "insert", "text": "b" * 5000}]
