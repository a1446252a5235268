"""Small-cell suppression: no figure lets anyone work out that fewer than five cases share a trait,
not even someone who knows these rules by heart.

A count under ``THRESHOLD`` (zero included) is *withheld as small* and shown as "<5". Within a
breakdown whose total is known (every breakdown of the reports adds up to the number of reports
shown beside it), a small cell could be recovered as total minus the rest, and several small cells
too when they can only add up one way. So whenever a breakdown with a known total has a small cell,
one shown cell is withheld as well (*secondary*, "x"): the first one in the breakdown's own order.

Both choices are made from what the reader sees anyway (which cells are small, whether the total
is shown), never from the hidden values, because a reader who knows the rule learns from the
choice itself: withholding a second cell only when the small ones "need" it says that they do
(all at 4, or one above 0), and withholding the *smallest* shown cell says that it is no larger
than the next one (with counts 4, 5, 5 and a total of 14 that gives the 4 away). The first cell in
order bounds nothing: the secondary cell is "5 or more", so the small ones can still add up to
anything from 0 to what is left.

When *every* cell of a breakdown is small there is no shown cell to withhold, and the total bounds
them from below: k cells of 0 to 4 that add up to T are each at least T - 4 × (k - 1)
(``pinned_by_total``). Then the total itself must not be known (figures.py withholds it, and
everything it can be worked out from). Whether that happens depends on T and k only; for k ≥ 3 the
totals withheld then include some that bound nothing, so the "x" does not give the bound away. For
two cells (open and closed, say) a withheld total of five or more still says that each is at
least 1: the only figures that go out in that case are the marks.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

THRESHOLD = 5


class Withheld(enum.StrEnum):
    SMALL = "small"  # under five
    SECONDARY = "secondary"  # five or more, withheld so that a small cell cannot be recovered


@dataclass(frozen=True)
class Cell:
    value: int | None
    withheld: Withheld | None = None

    @property
    def shown(self) -> bool:
        return self.withheld is None


def single(count: int) -> Cell:
    """A figure that stands alone (no total it adds up to)."""
    return Cell(count) if count >= THRESHOLD else Cell(None, Withheld.SMALL)


def protect(counts: Mapping[str, int], total_known: bool = True) -> dict[str, Cell]:
    """Each count as a cell, small ones withheld, plus one secondary cell (the first shown one) when
    the breakdown's total is known (``total_known``) and any of its cells is small."""
    small = {key for key, n in counts.items() if n < THRESHOLD}
    secondary = next((key for key in counts if key not in small), None) if total_known and small else None
    return {key: (Cell(None, Withheld.SMALL) if key in small else
                  Cell(None, Withheld.SECONDARY) if key == secondary else Cell(n))
            for key, n in counts.items()}


def pinned_by_total(counts: Mapping[str, int]) -> bool:
    """Whether the breakdown's cells are all small and its total (five or more) would bound them
    from below: the total must then be withheld. Decided from the total and the number of cells
    alone, and for totals from 4 × (k - 1) up, so that a withheld total bounds nothing for k ≥ 3."""
    values = list(counts.values())
    total = sum(values)
    return (bool(values) and all(n < THRESHOLD for n in values) and total >= THRESHOLD
            and total >= (THRESHOLD - 1) * (len(values) - 1))
