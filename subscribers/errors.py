"""Subscriber errors.

    SubscriberError
     ├── ValidationError   bad input; carries one (field, message) per problem
     └── NotFound          no subscriber with that id
"""
from __future__ import annotations


class SubscriberError(Exception):
    pass


class ValidationError(SubscriberError):
    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))

    def as_list(self) -> list[dict[str, str]]:
        return [{"field": f, "message": m} for f, m in self.errors]


class NotFound(SubscriberError):
    pass
