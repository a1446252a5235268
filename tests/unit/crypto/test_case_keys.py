"""Reporter case keys: Crockford base32, 80 bits, forgiving to type, strict to accept."""

from __future__ import annotations

import logging
import pickle
import re

import pytest

from appliance.crypto.case_keys import CROCKFORD, KEY_CHARS, MAX_TYPED, CaseKey, format_case_key
from appliance.errors import InvalidInput

KEY_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


def test_alphabet_is_crockford() -> None:
    assert CROCKFORD == "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert len(CROCKFORD) == 32
    assert not set(CROCKFORD) & set("ILOU")


def test_new_key_format() -> None:
    for _ in range(200):
        key = CaseKey.new()
        assert KEY_FORMAT.fullmatch(key.display), key.display


def test_key_carries_80_bits() -> None:
    key = CaseKey.new()
    assert KEY_CHARS == 16
    assert len(key.normalised) * 5 == 80


def test_many_keys_are_unique() -> None:
    keys = {CaseKey.new() for _ in range(20_000)}
    assert len(keys) == 20_000


def test_every_symbol_turns_up() -> None:
    """A sanity check that all 32 symbols are used (5 bits per character, none wasted)."""
    seen = set("".join(CaseKey.new().normalised for _ in range(500)))
    assert seen == set(CROCKFORD)


def test_new_key_normalises_to_itself_without_dashes() -> None:
    key = CaseKey.new()
    assert key.normalised == key.display.replace("-", "")
    assert CaseKey.parse(key.display) == key
    assert CaseKey.parse(key.normalised) == key
    assert format_case_key(key.normalised) == key.display


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
    key = CaseKey.parse(typed)
    assert key.normalised == "7KQ2M9XD4TPA0H1Z"
    assert key.display == "7KQ2-M9XD-4TPA-0H1Z"


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
        "7KQ2" + " " * MAX_TYPED + "M9XD4TPA0H1Z",  # would normalise, but far too long to type
    ],
)
def test_invalid_input_is_refused_without_repeating_it(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        CaseKey.parse(typed)
    assert refused.value.field == "case_key"
    if typed.strip("-"):
        assert typed not in str(refused.value)


def test_input_is_bounded_before_normalising() -> None:
    padded = "7KQ2-M9XD-4TPA-0H1Z".center(MAX_TYPED)
    assert CaseKey.parse(padded).normalised == "7KQ2M9XD4TPA0H1Z"
    with pytest.raises(InvalidInput):
        CaseKey.parse(padded + " ")


def test_the_value_never_shows_in_repr_str_format_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    key = CaseKey.parse("7KQ2-M9XD-4TPA-0H1Z")
    logger = logging.getLogger("test.case_keys")
    with caplog.at_level(logging.DEBUG, logger="test.case_keys"):
        logger.info("opened with %s", key)
        logger.info("opened with %r", key)
        logger.info("opened with %s", [key])
        logger.info(f"opened with {key} {key!r} {key:>40}")
    shown = (repr(key), str(key), f"{key}", f"{key!r}", repr({"k": key}), caplog.text)
    for text in shown:
        assert "7KQ2" not in text and "0H1Z" not in text, text
    assert "hidden" in repr(key)


def test_a_case_key_is_a_value() -> None:
    key = CaseKey.parse("7KQ2-M9XD-4TPA-0H1Z")
    assert key == CaseKey.parse("7kq2m9xd4tpa0h1z") and hash(key) == hash(CaseKey.parse("7KQ2M9XD4TPA0H1Z"))
    assert key != CaseKey.new() and key != "7KQ2-M9XD-4TPA-0H1Z"
    with pytest.raises(AttributeError):
        key._normalised = "0000000000000000"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_format_groups_in_fours() -> None:
    assert format_case_key("ABCDEFGHJKMNPQRS") == "ABCD-EFGH-JKMN-PQRS"
