"""The token's format: a lookup part in clear, a secret part, nothing else accepted."""

from __future__ import annotations

import pytest

from appliance.api_tokens.service import Scope, new_token, parse_scopes, token_lookup
from appliance.errors import InvalidInput


def test_a_new_token_carries_its_lookup_and_32_random_bytes() -> None:
    lookup, token = new_token()
    assert token.startswith(f"apl_{lookup}_")
    assert len(lookup) == 16 and len(token.removeprefix(f"apl_{lookup}_")) == 43
    assert token_lookup(token) == lookup


def test_two_tokens_differ() -> None:
    assert new_token() != new_token()


@pytest.mark.parametrize("text", ["", "apl_", "Bearer x", "apl_0123456789abcdef_short",
                                  "apl_0123456789ABCDEF_" + "a" * 43, "xyz_0123456789abcdef_" + "a" * 43,
                                  "apl_0123456789abcdef_" + "a" * 43 + "\n"])
def test_malformed_tokens_have_no_lookup(text: str) -> None:
    assert token_lookup(text) is None


def test_scopes_are_known_sorted_and_unique() -> None:
    assert parse_scopes(["stats:read", "reports:intake", "stats:read"]) == (Scope.REPORTS_INTAKE, Scope.STATS_READ)
    with pytest.raises(InvalidInput):
        parse_scopes(["reports:read"])
    with pytest.raises(InvalidInput):
        parse_scopes([])


def test_every_scope_of_the_issue_is_defined() -> None:
    assert {s.value for s in Scope} == {"reports:intake", "events:upload", "insiders:read", "insiders:write",
                                        "stats:read"}
