"""The benchmarks in tests/bench keep working: each runs in quick mode (tiny sizes).

Only that they produce figures is checked; their values, times included, are not judged.
"""

from __future__ import annotations

import math
from types import ModuleType

import pytest

from tests.bench import api, backup, handler_queue, insiders, large_upload, logbook_room, sealed_keys, soak, submissions, web


@pytest.mark.parametrize("benchmark", [submissions, handler_queue, large_upload, sealed_keys, backup, api, logbook_room,
                                       insiders, soak, web],
                         ids=lambda module: module.__name__.rsplit(".", 1)[1])
def test_benchmark_runs_in_quick_mode(benchmark: ModuleType, backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    figures = benchmark.run(quick=True, backends=(backend,))
    assert figures
    assert all(isinstance(value, float) and math.isfinite(value) for value in figures.values()), figures
    assert "Goal:" in capsys.readouterr().out
