"""Small-cell suppression: which cells are withheld, and that none can be recovered from a total."""

from __future__ import annotations

import itertools

import pytest

from appliance.statistics.suppression import Cell, Withheld, protect, single


def recoverable(counts: dict[str, int], cells: dict[str, Cell]) -> set[str]:
    """Cells whose value follows from the shown cells and the total (brute force over what the
    marks allow: small 0..4, secondary 5..total)."""
    total = sum(counts.values())
    hidden = [k for k, c in cells.items() if not c.shown]
    rest = total - sum(c.value or 0 for c in cells.values() if c.shown)
    ranges = [range(0, 5) if cells[k].withheld is Withheld.SMALL else range(5, total + 1) for k in hidden]
    possible: dict[str, set[int]] = {k: set() for k in hidden}
    for values in itertools.product(*ranges):
        if sum(values) == rest:
            for key, value in zip(hidden, values, strict=True):
                possible[key].add(value)
    return {k for k, seen in possible.items() if len(seen) == 1 and next(iter(seen)) > 0}


def test_a_count_under_five_is_withheld_as_small() -> None:
    assert single(4) == Cell(None, Withheld.SMALL)
    assert single(0) == Cell(None, Withheld.SMALL)
    assert single(5) == Cell(5)


def test_one_small_cell_takes_the_smallest_shown_one_with_it() -> None:
    cells = protect({"a": 12, "b": 3, "c": 7})
    assert cells == {"a": Cell(12), "b": Cell(None, Withheld.SMALL), "c": Cell(None, Withheld.SECONDARY)}


def test_without_a_known_total_small_cells_alone_are_withheld() -> None:
    assert protect({"a": 12, "b": 3}, total_known=False)["a"] == Cell(12)


def test_zeros_alone_need_no_secondary_cell() -> None:
    cells = protect({"a": 12, "b": 0, "c": 0})
    assert cells["a"] == Cell(12)


@pytest.mark.parametrize("counts", [
    {"a": 12, "b": 3, "c": 7}, {"a": 4, "b": 4, "c": 9}, {"a": 1, "b": 1, "c": 20}, {"a": 4, "b": 6},
    {"a": 2, "b": 0, "c": 5, "d": 5}, {"a": 3, "b": 2, "c": 1, "d": 8, "e": 30}, {"a": 4, "b": 4, "c": 4, "d": 5},
])
def test_no_small_cell_can_be_worked_out_from_the_total(counts: dict[str, int]) -> None:
    cells = protect(counts)
    assert all(cells[k].withheld is Withheld.SMALL for k, n in counts.items() if n < 5)
    assert recoverable(counts, cells) == set()
