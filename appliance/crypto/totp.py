"""TOTP (RFC 6238) second factor with replay protection and recovery codes."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

import pyotp

PERIOD = 30
DIGITS = 6
ISSUER = "Compliance Appliance"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def current_code(secret: str, at: dt.datetime) -> str:
    """The code an authenticator shows at a moment (demo output and tests)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).at(at)


def matching_step(secret: str, code: str, now: dt.datetime, last_used_step: int | None) -> int | None:
    """The time step the code belongs to (now ±1 step for clock drift), or None.

    A step at or before ``last_used_step`` is refused, so a code seen once (over a shoulder,
    in a proxy log) cannot be replayed.
    """
    code = code.strip().replace(" ", "")
    # isdigit() alone accepts non-ASCII digits ("١٢٣٤٥٦"), which compare_digest raises on.
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    now_step = int(now.timestamp()) // PERIOD
    for step in (now_step, now_step - 1, now_step + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten one-time codes like ``7KQ2-M9XD-4TPA``, 60 bits each."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def normalise_recovery_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")

