"""The templates are data: each is complete, chosen by the "as at" moment, rendered in its formats."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.errors import InvalidInput
from appliance.insiders import formats
from appliance.insiders.templates import (
    ENTRY_FIELDS,
    EVENT,
    PERMANENT,
    PERSONAL_FIELDS,
    TEMPLATES,
    TIME_FIELDS,
    template_for,
)

APPLIES = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)


def test_every_column_names_a_field_the_domain_holds() -> None:
    known = set(PERSONAL_FIELDS) | set(ENTRY_FIELDS) | set(TIME_FIELDS)
    for template in TEMPLATES:
        assert set(template.fields) <= known, template.template_id
        assert len(set(template.fields)) == len(template.fields)
        assert all(c.field.islower() and " " not in c.field for c in template.columns)


@pytest.mark.parametrize("kind", [EVENT, PERMANENT])
def test_the_template_follows_the_as_at_moment(kind: str) -> None:
    assert template_for(kind, APPLIES - dt.timedelta(minutes=1)).regulation == "(EU) 2022/1210"
    assert template_for(kind, APPLIES).regulation == "(EU) 2026/1291"
    assert template_for(kind, dt.datetime(2020, 1, 1, tzinfo=dt.UTC)).regulation == "(EU) 2022/1210"
    assert template_for(kind, APPLIES).section_kind == kind


def test_permanent_templates_have_no_ceased_column_and_event_ones_do() -> None:
    assert "ceased" in template_for(EVENT, APPLIES).fields
    assert "ceased" not in template_for(PERMANENT, APPLIES).fields


def test_values_render_in_the_templates_formats() -> None:
    moment = dt.datetime(2026, 9, 1, 13, 7, tzinfo=dt.UTC)
    old, new = template_for(EVENT, APPLIES - dt.timedelta(days=1)), template_for(EVENT, APPLIES)
    assert formats.render(moment, new.column("obtained").format) == "2026-09-01T13:07 UTC"  # type: ignore[union-attr]
    assert formats.render(moment, old.column("obtained").format) == "2026-09-01, 13:07 UTC"  # type: ignore[union-attr]
    assert formats.render("1980-01-31", new.column("date_of_birth").format) == "31/01/1980"  # type: ignore[union-attr]
    assert formats.render("1980-01-31", old.column("date_of_birth").format) == "1980-01-31"  # type: ignore[union-attr]
    assert formats.render(None, "text") == ""


def test_times_are_cut_to_the_utc_minute_and_naive_ones_refused() -> None:
    local = dt.datetime(2026, 9, 1, 15, 7, 59, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert formats.utc_minute("t", local) == dt.datetime(2026, 9, 1, 13, 7, tzinfo=dt.UTC)
    with pytest.raises(InvalidInput):
        formats.utc_minute("t", dt.datetime(2026, 9, 1, 13, 7))


@pytest.mark.parametrize(("typed", "stored"), [
    ("+46 8-123 456 78", "+46812345678"), ("0046 (0)70 111 22 33".replace("(0)", ""), "+46701112233"),
    ("+44 20 7946 0958; +33 1 23 45 67 89", "+442079460958; +33123456789"),
])
def test_phones_are_kept_in_international_form(typed: str, stored: str) -> None:
    assert formats.clean_phones("p", typed) == stored


@pytest.mark.parametrize("typed", ["08 123 456", "+0123456789", "+46 abc", "+1234", "+" + "1" * 16])
def test_phones_without_an_international_prefix_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput):
        formats.clean_phones("p", typed)
