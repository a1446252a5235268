"""Select and radio choices given as plain values (templates label them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def plain_choices(values: Iterable[str]) -> list[Any]:
    """WTForms 3.3 takes plain values and deprecates ``(value, label)`` tuples (a warning the test
    suite turns into an error); types-WTForms 3.2 still knows only the tuples, so the list is
    handed over untyped here, in one place, rather than silenced at every form."""
    return list(values)
