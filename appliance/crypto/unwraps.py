"""How many keys this process has unwrapped, by kind: a counter ready for a metrics exporter.

The logbook already records every unwrap one by one; this counter is the cheap aggregate a
monitoring system can alert on (a burst of tenant-key unwraps at night is worth a look). It
is a plain thread-safe structure, so the domain needs no metrics library; ``webapp/metrics.py``
copies its totals into a Prometheus counter. One lives in each ``AppContext``: in a gunicorn
worker, that is one per process.

Kinds: ``tenant_key`` and ``installation_key`` (key-encryption keys), ``content_key`` (a
case's content key wrapped under a tenant key, cases from before sealed case key pairs;
``case_key`` before 0.4), and for data keys of non-case records the ``object_type`` their
caller names (e.g. ``person_key``).
"""

from __future__ import annotations

import threading
from collections import Counter


class UnwrapCounter:
    """Monotonic totals per kind since the counter was made."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str, count: int = 1) -> None:
        with self._lock:
            self._counts[kind] += count

    def totals(self) -> dict[str, int]:
        """A consistent copy of every kind's total."""
        with self._lock:
            return dict(self._counts)
