"""Checking what an insider-list manager types, and rendering values in a template's formats.

Times: the templates count in UTC minutes. An aware time is converted to UTC and cut down to its
minute (seconds and microseconds dropped, never rounded up: a time is never moved later than
what was typed, so "obtained" never lands after a real access); a time without a zone is
refused, since nobody can tell which minute it meant.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from appliance.errors import InvalidInput
from appliance.insiders import templates as t

MAX_TEXT = 500
MAX_PHONES = 4
_PHONE_SEPARATORS = re.compile(r"[;,/]")
_PHONE_NOISE = re.compile(r"[\s().\-]")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NATIONAL_ID = re.compile(r"^[A-Z0-9]{4,32}$")
EARLIEST_BIRTH = dt.date(1900, 1, 1)


def utc_minute(field: str, moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC, cut down to the minute; a naive time is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(field, "give the time with its zone (UTC)")
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


def past_minute(field: str, moment: dt.datetime, now: dt.datetime) -> dt.datetime:
    """``utc_minute`` of ``moment``, refused when it is later than now."""
    minute = utc_minute(field, moment)
    if minute > now:
        raise InvalidInput(field, "must not be in the future")
    return minute


def clean_text(field: str, value: str | None, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    text = unicodedata.normalize("NFC", (value or "").strip())
    if not text:
        if required:
            raise InvalidInput(field, "required")
        return None
    if len(text) > limit:
        raise InvalidInput(field, f"at most {limit} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n" for ch in text):
        raise InvalidInput(field, "must not contain control characters")
    return text


def clean_phones(field: str, value: str | None) -> str | None:
    """One or more numbers in international form (+ country code, then 6 to 14 digits; a
    leading 00 counts as +), joined by "; "."""
    text = (value or "").strip()
    if not text:
        return None
    numbers = [n for n in (_PHONE_NOISE.sub("", part) for part in _PHONE_SEPARATORS.split(text)) if n]
    if len(numbers) > MAX_PHONES:
        raise InvalidInput(field, f"at most {MAX_PHONES} numbers")
    cleaned = []
    for number in numbers:
        if number.startswith("00"):
            number = "+" + number[2:]
        if not _E164.match(number):
            raise InvalidInput(field, "give each number with its international prefix, e.g. +46 8 123 456 78")
        cleaned.append(number)
    return "; ".join(cleaned)


def clean_national_id(field: str, value: str | None) -> str | None:
    text = "".join(ch for ch in (value or "") if ch not in " -./").upper()
    if not text:
        return None
    if not _NATIONAL_ID.match(text):
        raise InvalidInput(field, "letters and digits only, 4 to 32 of them")
    return text


def clean_birth_date(field: str, value: str | dt.date | None, today: dt.date) -> str | None:
    """A date of birth as ISO yyyy-mm-dd (accepts a date, yyyy-mm-dd or dd/mm/yyyy)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        day = value
    else:
        text = value.strip()
        try:
            day = (dt.datetime.strptime(text, "%d/%m/%Y") if "/" in text else dt.datetime.strptime(text, "%Y-%m-%d")
                   ).date()
        except ValueError:
            raise InvalidInput(field, "give a date as yyyy-mm-dd or dd/mm/yyyy") from None
    if not EARLIEST_BIRTH <= day <= today:
        raise InvalidInput(field, "not a plausible date of birth")
    return day.isoformat()


def render(value: str | dt.datetime | dt.date | None, fmt: str) -> str:
    """A stored value as the template's format shows it ("" for none)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        moment = value.astimezone(dt.UTC)
        if fmt == t.DATETIME_MINUTE_T:
            return moment.strftime("%Y-%m-%dT%H:%M UTC")
        if fmt == t.DATETIME_MINUTE_COMMA:
            return moment.strftime("%Y-%m-%d, %H:%M UTC")
        return render(moment.date(), fmt)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y") if fmt == t.DATE_DMY else value.isoformat()
    if fmt in (t.DATE_DMY, t.DATE_ISO):
        return render(dt.date.fromisoformat(value), fmt)
    if fmt == t.PHONE_DIGITS:
        return value.replace("; ", ";")
    return value
