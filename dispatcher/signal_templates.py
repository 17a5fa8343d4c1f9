"""The composer's template library: China's meteorological warning signals as data files
(templates/signals/<id>.json, or WARNCAST_SIGNAL_TEMPLATES_DIR), which an operator may edit.

Each file names the signal in zh-CN and en and, for each colour the signal really has (frost has
no red, hail only orange and red…), the event, headline, description and standard guidance in both
languages. ``_levels.json`` maps a colour to CAP severity, urgency and certainty.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import orjson

import templates as _templates

DEFAULT_DIR = Path(_templates.__file__).parent / "signals"
#: The national scheme's order; files beyond these follow, by name.
ORDER = ("typhoon", "rainstorm", "blizzard", "cold_wave", "gale", "sandstorm", "high_temperature", "drought",
         "lightning", "hail", "frost", "heavy_fog", "haze", "road_icing")
LANGUAGES = ("zh-CN", "en")
TEXT_FIELDS = ("event", "headline", "description", "instruction")
COLOURS = ("blue", "yellow", "orange", "red")


class TemplateFileError(ValueError):
    """A template file that is not as described above; the message names the file and field."""


@dataclass(frozen=True)
class Library:
    signals: dict[str, dict]          #: id → {id, category, name{lang}, levels{colour: {lang: texts}}}
    levels: dict[str, dict]           #: colour → {severity, urgency, certainty, name{lang}}

    def texts(self, signal: str, colour: str) -> dict[str, dict[str, str]] | None:
        return self.signals.get(signal, {}).get("levels", {}).get(colour)

    def summary(self) -> list[dict]:
        return [{"id": s["id"], "name": s["name"], "category": s["category"],
                 "levels": [c for c in COLOURS if c in s["levels"]]} for s in self.signals.values()]


def _check(name: str, doc) -> dict:
    if not isinstance(doc, dict) or not isinstance(doc.get("levels"), dict) or not doc["levels"]:
        raise TemplateFileError(f"{name}: needs an object with 'levels'")
    for lang in LANGUAGES:
        if not isinstance(doc.get("name", {}).get(lang), str):
            raise TemplateFileError(f"{name}: name.{lang} missing")
    for colour, texts in doc["levels"].items():
        if colour not in COLOURS:
            raise TemplateFileError(f"{name}: levels.{colour} is not one of {', '.join(COLOURS)}")
        for lang in LANGUAGES:
            for f in TEXT_FIELDS:
                if not isinstance(texts.get(lang, {}).get(f), str):
                    raise TemplateFileError(f"{name}: levels.{colour}.{lang}.{f} missing")
    doc.setdefault("category", "Met")
    return doc


@lru_cache(maxsize=4)
def load(directory: str = "") -> Library:
    """Every signal file of the directory, checked; TemplateFileError names a broken one."""
    root = Path(directory) if directory else DEFAULT_DIR
    levels = orjson.loads((root / "_levels.json").read_bytes())["levels"] if (root / "_levels.json").exists() \
        else orjson.loads((DEFAULT_DIR / "_levels.json").read_bytes())["levels"]
    files = {p.stem: p for p in root.glob("*.json") if not p.stem.startswith("_")}
    ordered = [s for s in ORDER if s in files] + sorted(set(files) - set(ORDER))
    signals = {}
    for sid in ordered:
        doc = _check(files[sid].name, orjson.loads(files[sid].read_bytes()))
        signals[sid] = {**doc, "id": sid}
    return Library(signals, levels)
