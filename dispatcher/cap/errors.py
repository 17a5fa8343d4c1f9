"""CAP errors: every problem in a message is reported at once, each at its element path.

    CapError                  the message is not acceptable CAP 1.2; ``errors`` lists every problem
     ├── CapTooLarge          the body is over the size limit (checked before parsing)
     └── UnsupportedMediaType the content type is neither CAP XML nor JSON

Paths name elements with 0-based indexes per repeated element, e.g.
``alert/info[1]/area[0]/polygon[0]``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class CapError(Exception):
    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = len(self.errors) - 5
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))

    def as_list(self) -> list[dict[str, str]]:
        """The errors as JSON-ready objects, for an API response."""
        return [{"path": e.path, "message": e.message} for e in self.errors]


class CapTooLarge(CapError):
    def __init__(self, size_bytes: int, max_bytes: int):
        self.size_bytes = size_bytes
        self.max_bytes = max_bytes
        super().__init__([FieldError("alert", f"body is {size_bytes} bytes; the limit is {max_bytes} bytes")])


class UnsupportedMediaType(CapError):
    def __init__(self, content_type: str):
        self.content_type = content_type
        super().__init__([FieldError(
            "Content-Type",
            f"unsupported media type {content_type!r}; send application/cap+xml, "
            "application/xml, text/xml or application/json",
        )])
