"""Small-cell suppression: no figure lets anyone work out that fewer than five cases share a trait.

A count under ``THRESHOLD`` (zero included) is *withheld as small* and shown as "<5". Within a
breakdown whose total is known (every breakdown of the reports adds up to the number of reports
shown beside it), one small cell could be recovered as total minus the rest, and several small
cells too when they can only add up one way (all at 4, say). Then the smallest shown cell is
withheld as well (*secondary*): as it is at least 5 and of unknown size, the small cells are no
longer determined. Totals are never computed over withheld cells on the way out: the caller sees
only ``Cell.value`` None.

When *every* cell of a breakdown is small there is no shown cell to withhold, and the total can
pin them all: k cells, each 0 to 4, adding up to 4 × k can only all be 4 (``pinned_by_total``).
Then the total itself must not be known (figures.py withholds it, and everything it can be
worked out from).
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
    """Each count as a cell, small ones withheld, plus secondary suppression when the breakdown's
    total is known (``total_known``) and the small cells would otherwise be determined by it."""
    small = {key for key, n in counts.items() if n < THRESHOLD}
    secondary: set[str] = set()
    if total_known and small and _determined([counts[k] for k in small]):
        shown = sorted((n, key) for key, n in counts.items() if key not in small)
        if shown:
            secondary.add(shown[0][1])
    return {key: (Cell(None, Withheld.SMALL) if key in small else
                  Cell(None, Withheld.SECONDARY) if key in secondary else Cell(n))
            for key, n in counts.items()}


def pinned_by_total(counts: Mapping[str, int]) -> bool:
    """Whether the breakdown's cells are all small and its total alone gives one of them away."""
    values = list(counts.values())
    return bool(values) and all(n < THRESHOLD for n in values) and _determined(values)


def _determined(small: list[int]) -> bool:
    """Whether the small cells' values follow from their sum alone (each is between 0 and 4).
    Only a positive value is worth protecting: a cell recovered as 0 names nobody."""
    total = sum(small)
    cap = THRESHOLD - 1
    for value in small:
        others_cap = cap * (len(small) - 1)
        low, high = max(0, total - others_cap), min(cap, total)
        if low == high and value > 0:
            return True
    return False
