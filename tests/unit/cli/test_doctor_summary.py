"""Doctor's last line: problems and warnings counted; "all checks passed" only when both are none."""

from __future__ import annotations

import pytest

from appliance.cli.doctor import summary
from appliance.cli.doctor_checks import Check


@pytest.mark.parametrize(("statuses", "line"), [
    (("ok", "ok"), "doctor: all checks passed"),
    (("ok", "warn"), "doctor: 1 warning; nothing failed"),
    (("warn", "warn", "ok"), "doctor: 2 warnings; nothing failed"),
    (("fail", "ok"), "doctor: 1 problem"),
    (("fail", "fail", "warn"), "doctor: 2 problems, 1 warning"),
])
def test_the_last_line_counts_problems_and_warnings(statuses: tuple[str, ...], line: str) -> None:
    assert summary([Check(f"check {i}", status, "") for i, status in enumerate(statuses)]) == line
