"""The room's filter (GET: a view of the figures is a link an analyst can keep)."""

from __future__ import annotations

import datetime as dt

from werkzeug.datastructures import MultiDict

from appliance.statistics.period import Period

FIELDS = ("from", "to", "tenant")


def filter_args(args: MultiDict[str, str]) -> dict[str, str]:
    """The filter's own arguments, non-empty and stripped (what export links carry)."""
    return {name: args.get(name, "").strip()[:64] for name in FIELDS if args.get(name, "").strip()}


def period_of(given: dict[str, str], now: dt.datetime) -> Period:
    """InvalidInput (naming the field) for a month that is not YYYY-MM, or a span out of range."""
    return Period.parse(given.get("from"), given.get("to"), now)
