"""WAL segment names: the range a log backup ships, across a log-file boundary."""

from __future__ import annotations

from appliance.backup.drivers.postgres import next_segment, segment_range


def test_next_segment_rolls_over_into_the_next_log_file() -> None:
    assert next_segment("000000010000000000000004") == "000000010000000000000005"
    assert next_segment("0000000100000000000000FF") == "000000010000000100000000"
    assert next_segment("000000020000000A000000FE") == "000000020000000A000000FF"


def test_segment_range_is_inclusive_and_contiguous() -> None:
    assert segment_range("0000000100000000000000FE", "000000010000000100000001") == [
        "0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000", "000000010000000100000001"]
    assert segment_range("000000010000000000000004", "000000010000000000000004") == ["000000010000000000000004"]
