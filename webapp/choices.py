"""Select and radio choices given as plain values (templates label them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def plain_choices(values: Iterable[str]) -> list[Any]:
    """WTForms 3.3 takes plain values and deprecates ``(value, label)`` tuples (a warning the test
    suite turns into an error); types-WTForms 3.2 still knows only the tuples, so the list is
    handed over untyped here, in one place, rather than silenced at every form."""
    return list(values)


def labelled_choices(pairs: Iterable[tuple[str, Any]]) -> list[Any]:
    """Choices whose labels the form gives (a lazy string or a name): WTForms 3.3's SelectChoice,
    which types-WTForms 3.2 does not know yet (hence looked up here, in one place)."""
    from wtforms.fields import choices

    select_choice = getattr(choices, "SelectChoice")  # noqa: B009 (unknown to the stubs)
    return [select_choice(value, label) for value, label in pairs]
