"""A queue search read from and written to the query string."""

from __future__ import annotations

import uuid

import pytest

from appliance.cases.queue_filter import QueueFilter, QueueSort, normalise_reference
from appliance.errors import InvalidInput


@pytest.mark.parametrize("search", [
    QueueFilter(open_only=True),
    QueueFilter(),
    QueueFilter(status="assessing", overdue_only=True, sort=QueueSort.DEADLINE, descending=True),
    QueueFilter(tenant_id=uuid.uuid4(), category_id=uuid.uuid4(), reference="AB12", sort=QueueSort.STATUS,
                descending=False, open_only=True),
])
def test_a_search_survives_its_query_string(search: QueueFilter) -> None:
    again = QueueFilter.from_args(search.to_args())
    assert again.to_args() == search.to_args()
    assert (again.is_descending, again.sort, again.overdue_only) == (search.is_descending, search.sort,
                                                                     search.overdue_only)


def test_an_empty_query_string_is_every_open_case_newest_first() -> None:
    search = QueueFilter.from_args({})
    assert search.open_only and search.status is None and search.sort == QueueSort.RECEIVED and search.is_descending
    assert search.to_args() == {}


@pytest.mark.parametrize(("given", "field"), [
    ({"status": "archived"}, "status"), ({"sort": "name"}, "sort"), ({"dir": "up"}, "dir"),
    ({"overdue": "yes"}, "overdue"), ({"tenant": "1"}, "tenant"), ({"category": "x"}, "category"),
    ({"ref": "%"}, "ref"), ({"ref": "A" * 65}, "ref"), ({"status": "\x00"}, "status"),
])
def test_malformed_arguments_name_themselves(given: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        QueueFilter.from_args(given)
    assert caught.value.field == field


@pytest.mark.parametrize(("typed", "stored"), [
    ("abcd-1234", "ABCD-1234"), ("ABCD1234", "ABCD-1234"), (" ab cd ", "ABCD"), ("ABCD-", "ABCD-"),
    ("abc", "ABC"), ("ABCD-12", "ABCD-12"), ("", None), ("   ", None),
])
def test_references_are_read_as_handlers_type_them(typed: str, stored: str | None) -> None:
    assert normalise_reference(typed) == stored


@pytest.mark.parametrize("typed", ["AB-CD", "ABCD-1234-", "ABCD_1234", "ÅÄÖ", "ABCD%", "ABCDEFGHIJ", "-ABCD"])
def test_anything_no_reference_looks_like_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_reference(typed)
