"""Small-cell suppression: which cells are withheld, and that none can be recovered from a total."""

from __future__ import annotations

import itertools

import pytest

from appliance.statistics.suppression import THRESHOLD, Cell, Withheld, pinned_by_total, protect, single


def recoverable(counts: dict[str, int], cells: dict[str, Cell]) -> set[str]:
    """Cells whose value follows from the shown cells and the total (brute force over what the
    marks allow: small 0..4, secondary 5..total)."""
    return {k for k, (low, high) in bounds(counts, cells, knows_the_rule=False).items() if low == high and low > 0}


def bounds(counts: dict[str, int], cells: dict[str, Cell], knows_the_rule: bool = True) -> dict[str, tuple[int, int]]:
    """What an attacker who sees the cells and the total can tell of each withheld cell: the least
    and the most it can be. With ``knows_the_rule`` they also drop every candidate for which
    ``protect`` would have withheld other cells than it did (the rule gives its choices away)."""
    total = sum(counts.values())
    # the secondary cells last: the last hidden cell is what the total leaves over (fewer to try)
    hidden = sorted((k for k, c in cells.items() if not c.shown), key=lambda k: cells[k].withheld is Withheld.SECONDARY)
    rest = total - sum(c.value or 0 for c in cells.values() if c.shown)
    ranges = [range(0, 5) if cells[k].withheld is Withheld.SMALL else range(5, total + 1) for k in hidden]
    possible: dict[str, set[int]] = {k: set() for k in hidden}
    for values in itertools.product(*ranges[:-1]):
        last = rest - sum(values)
        if not hidden or last not in ranges[-1]:
            continue
        candidate = {**counts, **dict(zip(hidden, (*values, last), strict=True))}
        if knows_the_rule and protect(candidate) != cells:  # (the total, and so pinned_by_total, is the same)
            continue
        for key, value in zip(hidden, (*values, last), strict=True):
            possible[key].add(value)
    return {k: (min(seen), max(seen)) for k, seen in possible.items() if seen}


def given_away(counts: dict[str, int]) -> set[str]:
    """The small cells that someone who knows the rule learns to hold at least one case (or their
    exact number, which is worse)."""
    cells = protect(counts)
    return {k for k, (low, _) in bounds(counts, cells).items() if cells[k].withheld is Withheld.SMALL and low > 0}


def test_a_count_under_five_is_withheld_as_small() -> None:
    assert single(4) == Cell(None, Withheld.SMALL)
    assert single(0) == Cell(None, Withheld.SMALL)
    assert single(5) == Cell(5)


def test_one_small_cell_takes_the_first_shown_one_with_it() -> None:
    cells = protect({"a": 12, "b": 3, "c": 7})
    assert cells == {"a": Cell(None, Withheld.SECONDARY), "b": Cell(None, Withheld.SMALL), "c": Cell(7)}


def test_without_a_known_total_small_cells_alone_are_withheld() -> None:
    assert protect({"a": 12, "b": 3}, total_known=False)["a"] == Cell(12)


def test_zeros_take_a_secondary_cell_too() -> None:
    # Were zeros left alone, an "x" would say that a small cell beside it holds at least one case.
    cells = protect({"a": 12, "b": 0, "c": 0, "d": 9})
    assert cells["a"] == Cell(None, Withheld.SECONDARY) and cells["d"] == Cell(9)


@pytest.mark.parametrize("counts", [
    {"a": 4, "b": 5, "c": 5}, {"a": 5, "b": 4, "c": 5}, {"a": 5, "b": 5, "c": 4}, {"a": 4, "b": 6},
    {"a": 6, "b": 4}, {"a": 1, "b": 5, "c": 100}, {"a": 4, "b": 4, "c": 9, "d": 9}, {"a": 3, "b": 7, "c": 8},
])
def test_someone_who_knows_the_rule_cannot_subtract_a_small_cell_back(counts: dict[str, int]) -> None:
    """The attack the rule is made against: total minus the shown cells, knowing which cell the
    rule withholds with a small one and when (the old rule withheld the smallest shown cell, and
    only when the small ones needed it: {4, 5, 5} gave its 4 away)."""
    cells = protect(counts)
    assert sum(1 for c in cells.values() if not c.shown) >= 2
    assert given_away(counts) == set(), (counts, cells)


@pytest.mark.parametrize("counts", [
    {"a": 12, "b": 3, "c": 7}, {"a": 4, "b": 4, "c": 9}, {"a": 1, "b": 1, "c": 20}, {"a": 4, "b": 6},
    {"a": 2, "b": 0, "c": 5, "d": 5}, {"a": 3, "b": 2, "c": 1, "d": 8, "e": 30}, {"a": 4, "b": 4, "c": 4, "d": 5},
])
def test_no_small_cell_can_be_worked_out_from_the_total(counts: dict[str, int]) -> None:
    cells = protect(counts)
    assert all(cells[k].withheld is Withheld.SMALL for k, n in counts.items() if n < 5)
    assert recoverable(counts, cells) == set()


def test_all_small_cells_are_pinned_by_a_total_that_bounds_them() -> None:
    assert pinned_by_total({"portal": 4, "phone": 4})
    assert pinned_by_total({"portal": 4, "phone": 1})  # each at least 1
    assert pinned_by_total({"a": 4, "b": 4, "c": 0})  # 8 = 4 x 2: withheld for cover, so "x" bounds nothing
    assert not pinned_by_total({"a": 4, "b": 3, "c": 0})
    assert not pinned_by_total({"a": 4, "b": 4, "c": 5})
    assert not pinned_by_total({"a": 4, "b": 0})  # a total under five is withheld as small anyway


def breakdowns(cells: int, largest: int) -> list[dict[str, int]]:
    keys = "abcdefgh"[:cells]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(range(largest + 1), repeat=cells)]


@pytest.mark.parametrize(("cells", "largest", "every"), [(1, 30, 1), (2, 25, 1), (3, 14, 1), (4, 8, 1), (5, 5, 7)])
def test_no_withheld_cell_of_any_small_breakdown_can_be_recovered(cells: int, largest: int, every: int) -> None:
    """Every breakdown of up to five cells in the range: where the total is shown (five or more, and
    not pinning the small cells), no small cell can be bounded above 0, even by someone who knows
    the rule; where it is withheld, the attacker has no sum to work from. (Five cells: every 7th
    breakdown, or the attacker's brute force takes a minute.)"""
    for counts in breakdowns(cells, largest)[::every]:
        protected = protect(counts)
        assert all(protected[k].withheld is Withheld.SMALL for k, n in counts.items() if n < THRESHOLD), counts
        total_shown = sum(counts.values()) >= THRESHOLD and not pinned_by_total(counts)
        if total_shown:
            assert given_away(counts) == set(), counts


@pytest.mark.parametrize("cells", [3, 4, 5])
def test_a_withheld_total_bounds_no_cell_of_three_or_more(cells: int) -> None:
    """Knowing only that the total was withheld (it is one of the totals pinned_by_total withholds),
    every cell of an all-small breakdown can still be 0."""
    withheld = [t for t in range(THRESHOLD, (THRESHOLD - 1) * cells + 1)
                if pinned_by_total({str(i): min(4, max(0, t - 4 * i)) for i in range(cells)})]
    assert withheld and min(withheld) - (THRESHOLD - 1) * (cells - 1) <= 0
