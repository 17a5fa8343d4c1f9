"""What changed between two versions of a draft, for the person asked to approve it: each field
that differs, with its text before and after and, for text, the inserted and deleted runs
(character by character, which suits Chinese and English alike)."""
from __future__ import annotations

from difflib import SequenceMatcher

#: Longest text compared run by run; longer ones are shown whole, before and after.
MAX_DIFF_CHARS = 8_000


def flatten(form: dict, prefix: str = "") -> dict[str, str]:
    """{"texts.zh-CN.headline": "…", "area.codes": "110105, 110108", …}: one line per field."""
    out: dict[str, str] = {}
    for name, value in form.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        elif isinstance(value, list):
            out[path] = "; ".join(_item(v) for v in value)
        elif value is not None:
            out[path] = str(value)
    return out


def _item(value) -> str:
    if isinstance(value, list):
        return " ".join(_item(v) for v in value)
    return str(value)


def runs(before: str, after: str) -> list[dict]:
    """[{"op": "same"|"insert"|"delete", "text": …}, …] turning ``before`` into ``after``."""
    if len(before) + len(after) > MAX_DIFF_CHARS:
        return [{"op": "delete", "text": before}, {"op": "insert", "text": after}]
    out = []
    for op, a1, a2, b1, b2 in SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if op == "equal":
            out.append({"op": "same", "text": before[a1:a2]})
            continue
        if a2 > a1:
            out.append({"op": "delete", "text": before[a1:a2]})
        if b2 > b1:
            out.append({"op": "insert", "text": after[b1:b2]})
    return out


def diff(old: dict, new: dict) -> list[dict]:
    """Every field that differs: {"field", "before", "after", "runs"}, in the new form's order."""
    a, b = flatten(old), flatten(new)
    fields = list(b) + [f for f in a if f not in b]
    return [{"field": f, "before": a.get(f, ""), "after": b.get(f, ""), "runs": runs(a.get(f, ""), b.get(f, ""))}
            for f in fields if a.get(f, "") != b.get(f, "")]
