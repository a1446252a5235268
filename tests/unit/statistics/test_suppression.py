"""Small-cell suppression: which cells are withheld, and that none can be recovered from a total."""

from __future__ import annotations

import itertools

import pytest

from appliance.statistics.suppression import THRESHOLD, Cell, Withheld, pinned_by_total, protect, single


def recoverable(counts: dict[str, int], cells: dict[str, Cell]) -> set[str]:
    """Cells whose value follows from the shown cells and the total (brute force over what the
    marks allow: small 0..4, secondary 5..total)."""
    total = sum(counts.values())
    hidden = [k for k, c in cells.items() if not c.shown]
    rest = total - sum(c.value or 0 for c in cells.values() if c.shown)
    ranges = [range(0, 5) if cells[k].withheld is Withheld.SMALL else range(5, total + 1) for k in hidden]
    possible: dict[str, set[int]] = {k: set() for k in hidden}
    for values in itertools.product(*ranges[:-1]):
        last = rest - sum(values)  # the last hidden cell is what the total leaves over
        if hidden and last in ranges[-1]:
            for key, value in zip(hidden, (*values, last), strict=True):
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


def test_all_small_cells_adding_up_to_four_each_are_pinned_by_the_total() -> None:
    assert pinned_by_total({"portal": 4, "phone": 4})
    assert pinned_by_total({"a": 4, "b": 4, "c": 4})
    assert not pinned_by_total({"a": 4, "b": 3})
    assert not pinned_by_total({"a": 4, "b": 4, "c": 5})
    assert not pinned_by_total({"a": 0, "b": 0})  # zeros name nobody


def breakdowns(cells: int, largest: int) -> list[dict[str, int]]:
    keys = "abcdefgh"[:cells]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(range(largest + 1), repeat=cells)]


@pytest.mark.parametrize(("cells", "largest"), [(1, 30), (2, 25), (3, 14), (4, 8), (5, 5)])
def test_no_withheld_cell_of_any_small_breakdown_can_be_recovered(cells: int, largest: int) -> None:
    """Every breakdown of up to five cells in the range: where the total is shown (five or more, and
    not pinning the small cells), no withheld cell follows from it; where it is withheld, the
    attacker has no sum to work from."""
    for counts in breakdowns(cells, largest):
        protected = protect(counts)
        assert all(protected[k].withheld is Withheld.SMALL for k, n in counts.items() if n < THRESHOLD), counts
        total_shown = sum(counts.values()) >= THRESHOLD and not pinned_by_total(counts)
        if total_shown:
            assert recoverable(counts, protected) == set(), counts


@pytest.mark.parametrize("cells", [2, 3, 4, 5])
def test_pinned_by_total_is_exactly_when_a_total_would_give_small_cells_away(cells: int) -> None:
    for counts in breakdowns(cells, THRESHOLD - 1):
        if sum(counts.values()) >= THRESHOLD:
            assert bool(recoverable(counts, protect(counts))) == pinned_by_total(counts), counts
