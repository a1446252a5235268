"""TOTP second factor: drift window, replay refusal, malformed codes, recovery codes."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from appliance.crypto import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = dt.datetime(2026, 3, 2, 9, 0, 10, tzinfo=dt.UTC)
STEP = int(NOW.timestamp()) // totp.PERIOD


def code_at_step(step: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret, digits=totp.DIGITS, interval=totp.PERIOD).generate_otp(step)


def test_current_code_matches_rfc_6238_generator() -> None:
    assert totp.current_code(SECRET, NOW) == code_at_step(STEP)
    assert re.fullmatch(r"\d{6}", totp.current_code(SECRET, NOW))


def test_current_step_is_accepted() -> None:
    assert totp.matching_step(SECRET, code_at_step(STEP), NOW, None) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_one_step_of_clock_drift_is_accepted(offset: int) -> None:
    assert totp.matching_step(SECRET, code_at_step(STEP + offset), NOW, None) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_outside_the_window_are_refused(offset: int) -> None:
    assert totp.matching_step(SECRET, code_at_step(STEP + offset), NOW, None) is None


def test_attack_replaying_a_used_code_is_refused() -> None:
    code = code_at_step(STEP)
    used = totp.matching_step(SECRET, code, NOW, None)
    assert used == STEP
    assert totp.matching_step(SECRET, code, NOW, used) is None
    assert totp.matching_step(SECRET, code, NOW + dt.timedelta(seconds=25), used) is None


def test_attack_codes_from_before_the_last_used_step_are_refused() -> None:
    """After a login with the next step's code, the current and previous codes are dead."""
    assert totp.matching_step(SECRET, code_at_step(STEP - 1), NOW, STEP) is None
    assert totp.matching_step(SECRET, code_at_step(STEP), NOW, STEP + 1) is None


def test_a_later_step_is_accepted_after_an_earlier_one() -> None:
    assert totp.matching_step(SECRET, code_at_step(STEP + 1), NOW, STEP) == STEP + 1
    assert totp.matching_step(SECRET, code_at_step(STEP), NOW, STEP - 1) == STEP


def test_code_for_another_secret_is_refused() -> None:
    other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.matching_step(SECRET, code_at_step(STEP, other), NOW, None) is None


def test_spaces_around_and_inside_are_forgiven() -> None:
    code = code_at_step(STEP)
    assert totp.matching_step(SECRET, f"  {code[:3]} {code[3:]}\n", NOW, None) == STEP


@pytest.mark.parametrize(
    "malformed",
    ["", "12345", "1234567", "abcdef", "12345a", "12-456", "+12345", "-12345", " ", "1 2 3 4 5",
     "١٢٣٤٥٦", "²²²²²²", "１２３４５６"],
    ids=lambda value: value.encode("unicode_escape").decode() or "empty",
)
def test_malformed_codes_are_refused(malformed: str) -> None:
    assert totp.matching_step(SECRET, malformed, NOW, None) is None


def test_new_secret_is_base32_of_160_bits_or_more() -> None:
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert totp.new_secret() != secret


def test_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri(SECRET, "handler@example.com")
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert query["secret"] == [SECRET]
    assert query["issuer"] == [totp.ISSUER]
    assert "handler%40example.com" in parts.path or "handler@example.com" in parts.path
    assert query.get("digits", ["6"]) == ["6"]
    assert query.get("period", ["30"]) == ["30"]


# recovery codes --------------------------------------------------------------------------

RECOVERY_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")


def test_recovery_codes_format() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == totp.RECOVERY_CODE_COUNT == 10
    for code in codes:
        assert RECOVERY_FORMAT.fullmatch(code), code
        assert not set(code) & set("ILOU")


def test_recovery_codes_are_unique() -> None:
    seen = [code for _ in range(50) for code in totp.new_recovery_codes()]
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize(
    "typed", ["7kq2-m9xd-4tpa", " 7KQ2 M9XD 4TPA ", "7KQ2M9XD4TPA", "7kq2-M9XD 4tpa\n"]
)
def test_normalise_recovery_code(typed: str) -> None:
    assert totp.normalise_recovery_code(typed) == "7KQ2M9XD4TPA"


def test_normalised_generated_codes_are_twelve_characters() -> None:
    for code in totp.new_recovery_codes():
        assert len(totp.normalise_recovery_code(code)) == 12
