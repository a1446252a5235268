"""The key unwrap counter: totals by kind, safe under threads."""

from __future__ import annotations

import threading

from appliance.crypto.unwraps import UnwrapCounter


def test_totals_by_kind_from_many_threads() -> None:
    counter = UnwrapCounter()

    def work() -> None:
        for _ in range(1000):
            counter.add("tenant_key")
            counter.add("person_key", 2)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.totals() == {"tenant_key": 8000, "person_key": 16000}
    snapshot = counter.totals()
    counter.add("content_key")
    assert "content_key" not in snapshot  # a copy, not a view
