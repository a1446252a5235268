"""Benchmarks: they print figures against a goal and never assert on time.

Run them all with ``./scripts/bench`` (``--quick`` for tiny sizes), or one with
``python -m tests.bench.submissions`` etc. The module names do not start with ``test_``,
so pytest does not collect them; tests/functional/test_bench_smoke.py runs each one in
quick mode so the code keeps working.
"""
