"""SMS text: GSM 03.38 / UCS-2 encoding choice, segment counting and splitting, composition.

A single SMS carries 140 octets of user data: 160 GSM-7 septets or 70 UCS-2 code
units. A concatenated message spends 6 octets per part on the UDH, leaving 153
septets or 67 code units a part. Splitting never separates a GSM escape pair
(``ESC`` + extension character) or a UTF-16 surrogate pair (an emoji).

``compose_sms`` builds the text a subscriber receives — signature, headline,
area, instruction, then body if room — and truncates it to a number of parts,
dropping body before instruction, instruction before area, area before headline.
"""
from __future__ import annotations

import unicodedata

GSM7 = "GSM-7"
UCS2 = "UCS-2"

SINGLE_GSM7_SEPTETS = 160
PART_GSM7_SEPTETS = 153
SINGLE_UCS2_UNITS = 70
PART_UCS2_UNITS = 67

#: GSM 03.38 default alphabet, indexed by its 7-bit code (0x1B is the escape to the extension table).
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
#: Extension table: character -> code sent after the escape 0x1B (each costs two septets).
_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
              "]": 0x3E, "|": 0x40, "€": 0x65}
_ESC = 0x1B
_BASIC_CODE = {ch: i for i, ch in enumerate(_BASIC) if i != _ESC}
_EXTENSION_CHAR = {code: ch for ch, code in _EXTENSION.items()}

_CJK_LANGS = ("zh", "ja", "ko")
_ELLIPSIS_UCS2 = "…"
#: In GSM-7 text the Unicode ellipsis would force UCS-2 and cost more than half the room.
_ELLIPSIS_GSM7 = "..."


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 03.38 basic set or its extension table."""
    return all(ch in _BASIC_CODE or ch in _EXTENSION for ch in text)


def _septet_cost(ch: str) -> int:
    return 2 if ch in _EXTENSION else 1


def septets(text: str) -> int:
    """GSM-7 length: extension characters (``^{}\\[~]|€`` and form feed) count two."""
    return sum(_septet_cost(ch) for ch in text)


def _ucs2_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def ucs2_units(text: str) -> int:
    """UTF-16 code units: characters outside the BMP (emoji) take a surrogate pair."""
    return sum(_ucs2_units(ch) for ch in text)


def encoding(text: str) -> str:
    return GSM7 if is_gsm7(text) else UCS2


def _cost_and_limits(text: str):
    if is_gsm7(text):
        return _septet_cost, SINGLE_GSM7_SEPTETS, PART_GSM7_SEPTETS
    return _ucs2_units, SINGLE_UCS2_UNITS, PART_UCS2_UNITS


def split_parts(text: str) -> list[str]:
    """The parts a concatenated SMS carries, in order ([text] when it fits one SMS)."""
    cost, single, per_part = _cost_and_limits(text)
    if sum(cost(ch) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    start, used = 0, 0
    for i, ch in enumerate(text):
        c = cost(ch)
        if used + c > per_part:
            parts.append(text[start:i])
            start, used = i, 0
        used += c
    parts.append(text[start:])
    return parts


def segments(text: str) -> int:
    """How many SMS the text takes (1 for up to 160 septets / 70 code units)."""
    cost, single, per_part = _cost_and_limits(text)
    if sum(cost(ch) for ch in text) <= single:
        return 1
    return len(split_parts(text))


def gsm7_encode(text: str) -> bytes:
    """GSM 03.38 default alphabet, unpacked: one septet per octet, extension chars as ESC + code."""
    out = bytearray()
    for ch in text:
        code = _BASIC_CODE.get(ch)
        if code is not None:
            out.append(code)
        else:
            try:
                out += bytes((_ESC, _EXTENSION[ch]))
            except KeyError:
                raise ValueError(f"character {ch!r} is not in the GSM 03.38 alphabet") from None
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    """Inverse of ``gsm7_encode`` (an unknown extension code decodes as a space, as handsets do)."""
    out: list[str] = []
    escaped = False
    for b in data:
        b &= 0x7F
        if escaped:
            out.append(_EXTENSION_CHAR.get(b, " "))
            escaped = False
        elif b == _ESC:
            escaped = True
        else:
            out.append(_BASIC[b])
    return "".join(out)


def _is_cjk(lang: str) -> bool:
    return lang.lower().startswith(_CJK_LANGS)


def _signature_prefix(signature: str, lang: str) -> str:
    if not signature:
        return ""
    if not _is_cjk(lang) and signature.isascii():
        return f"[{signature}] "
    return f"【{signature}】"


def _join(pieces: list[str], cjk: bool) -> str:
    """Pieces not ending in punctuation get a separator: ". " in alphabetic text, "，" in CJK text."""
    out = ""
    for piece in pieces:
        if out:
            if unicodedata.category(out[-1]).startswith("P"):
                out += "" if cjk else " "
            else:
                out += "，" if cjk else ". "
        out += piece
    return out


def _fits(text: str, max_parts: int) -> bool:
    return segments(text) <= max_parts


def compose_sms(*, headline: str, area: str, instruction: str, body: str = "", signature: str,
                max_parts: int, lang: str, guidance: str = "") -> str:
    """The SMS text for one alert: fits ``max_parts`` segments, losing body, then instruction, then area,
    then headline first; ``guidance`` (the line naming the nearest shelter) follows the headline and is
    shortened last."""
    if max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    cjk = _is_cjk(lang)
    prefix = _signature_prefix(signature, lang)
    pieces = [p.strip() for p in (headline, guidance, area, instruction, body)]

    def render(ps: list[str]) -> str:
        return prefix + _join([p for p in ps if p], cjk)

    text = render(pieces)
    if _fits(text, max_parts):
        return text
    # Shorten the lowest-priority piece still present, down to nothing, then the next one.
    for idx in (4, 3, 2, 0, 1):
        if not pieces[idx]:
            continue
        full = pieces[idx]
        ellipsis = _ELLIPSIS_GSM7 if is_gsm7(render(pieces[:idx] + [full])) else _ELLIPSIS_UCS2

        def candidate(n: int) -> str:
            return render(pieces[:idx] + [full[:n].rstrip() + ellipsis] + pieces[idx + 1:])

        lo, hi = 0, len(full) - 1
        best = -1
        while lo <= hi:
            mid = (lo + hi) // 2
            if _fits(candidate(mid), max_parts):
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        if best > 0:
            pieces[idx] = full[:best].rstrip() + ellipsis
            return render(pieces)
        pieces[idx] = ""
        text = render(pieces)
        if _fits(text, max_parts):
            return text
    if _fits(prefix.rstrip(), max_parts):
        return prefix.rstrip()
    raise ValueError("the SMS signature alone does not fit max_parts segments")
