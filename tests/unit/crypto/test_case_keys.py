"""Reporter case keys: Crockford base32, 80 bits, forgiving to type, strict to accept."""

from __future__ import annotations

import re

import pytest

from appliance.crypto.case_keys import (
    CROCKFORD,
    KEY_CHARS,
    format_case_key,
    new_case_key,
    normalise_case_key,
)

KEY_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


def test_alphabet_is_crockford() -> None:
    assert CROCKFORD == "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert len(CROCKFORD) == 32
    assert not set(CROCKFORD) & set("ILOU")


def test_new_key_format() -> None:
    for _ in range(200):
        key = new_case_key()
        assert KEY_FORMAT.fullmatch(key), key


def test_key_carries_80_bits() -> None:
    key = new_case_key()
    assert KEY_CHARS == 16
    assert len(key.replace("-", "")) * 5 == 80


def test_many_keys_are_unique() -> None:
    keys = {new_case_key() for _ in range(20_000)}
    assert len(keys) == 20_000


def test_every_symbol_turns_up() -> None:
    """A sanity check that all 32 symbols are used (5 bits per character, none wasted)."""
    seen = set("".join(new_case_key().replace("-", "") for _ in range(500)))
    assert seen == set(CROCKFORD)


def test_new_key_normalises_to_itself_without_dashes() -> None:
    key = new_case_key()
    assert normalise_case_key(key) == key.replace("-", "")
    assert format_case_key(key.replace("-", "")) == key


@pytest.mark.parametrize(
    "typed",
    [
        "7KQ2-M9XD-4TPA-0H1Z",
        "7kq2-m9xd-4tpa-0h1z",
        "7KQ2M9XD4TPA0H1Z",
        " 7KQ2 M9XD 4TPA 0H1Z ",
        "7KQ2-M9XD-4TPA-OH1Z",   # O for zero
        "7KQ2-M9XD-4TPA-0HIZ",   # I for one
        "7KQ2-M9XD-4TPA-0HlZ",   # l for one
        "7KQ2-M9XD-4TPA-oHLZ",
        "7KQ2--M9XD\t4TPA\n0H1Z",
    ],
)
def test_normalisation_forgives_case_dashes_spaces_and_lookalikes(typed: str) -> None:
    assert normalise_case_key(typed) == "7KQ2M9XD4TPA0H1Z"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "----",
        "7KQ2-M9XD-4TPA",            # too short
        "7KQ2-M9XD-4TPA-0H1Z-0000",  # too long
        "7KQ2-M9XD-4TPA-0H1U",       # U is not in the alphabet
        "7KQ2-M9XD-4TPA-0H1!",
        "7KQ2_M9XD_4TPA_0H1Z",
        "7KQ2-M9XD-4TPA-0H1Ž",
        "７KQ2-M9XD-4TPA-0H1Z",      # full-width digit
        "' OR 1=1 --",
    ],
)
def test_invalid_input_gives_none(typed: str) -> None:
    assert normalise_case_key(typed) is None


def test_format_groups_in_fours() -> None:
    assert format_case_key("ABCDEFGHJKMNPQRS") == "ABCD-EFGH-JKMN-PQRS"
