"""A duplicate's reference as a handler types it: the whole XXXX-XXXX, nothing else."""

from __future__ import annotations

import pytest

from appliance.cases.triage import MALFORMED, parse_reference
from appliance.errors import InvalidInput


@pytest.mark.parametrize(("typed", "stored"), [
    ("ABCD-1234", "ABCD-1234"), ("abcd-1234", "ABCD-1234"), ("ABCD1234", "ABCD-1234"),
    (" abcd 1234 ", "ABCD-1234"), ("0Z9Y-XWVT", "0Z9Y-XWVT"),
])
def test_a_whole_reference_is_read_as_stored(typed: str, stored: str) -> None:
    assert parse_reference(typed) == stored


@pytest.mark.parametrize("typed", [
    "", " ", "ABCD", "ABCD-", "ABCD-123", "ABCD-12345", "ABCD--1234", "AB-CD1234", "ABCI-1234", "ABCL-1234",
    "ABCO-1234", "ABCU-1234", "ABCD_1234", "ABCD%1234", "<b>ABCD-1234</b>", "ABCD-1234\x00", "ÄBCD-1234",
    "A" * 41, "ABCD-1234" * 5,
])
def test_anything_else_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_reference(typed)
    assert (refused.value.field, refused.value.reason) == ("duplicate_of", MALFORMED)
