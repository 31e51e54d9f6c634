"""Specification of timestamp reading and writing."""

from __future__ import annotations

import pytest

from cast_pipeline.transcripts.timecode import format_clock, format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:18.400", 18.4),
        ("01:02:03,004", 3723.004),
        ("1:02:03", 3723.0),
        ("02:03.500", 123.5),  # VTT without hours
        ("2:03", 123.0),
        ("102:30", 6150.0),  # minutes beyond 59 when there are no hours
        ("7.380", 7.38),  # bare seconds
        ("0.860", 0.86),
        ("42", 42.0),
        ("00:00:01.5", 1.5),  # a short fraction is a decimal fraction, not milliseconds
        ("00:00:04.7990001", 4.799),  # rounded to the millisecond
        ("  00:00:01.000 ", 1.0),
    ],
)
def test_timestamps_publishers_write_are_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_timestamp(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "-00:01", "00:01.", "1,5,6", "00:01 am"])
def test_anything_else_is_not_a_timestamp(text: str) -> None:
    assert parse_timestamp(text) is None


def test_vtt_srt_and_clock_formats() -> None:
    assert format_timestamp(3723.004) == "01:02:03.004"
    assert format_timestamp(3723.004, ",") == "01:02:03,004"
    assert format_timestamp(4.799) == "00:00:04.799"  # no 4.798 from binary floating point
    assert format_clock(3599.999) == "00:59:59"  # truncated: the phrase starts within that second
    assert format_clock(360000) == "100:00:00"


def test_negative_times_are_written_as_zero() -> None:
    assert format_timestamp(-1.0) == "00:00:00.000"
    assert format_clock(-0.5) == "00:00:00"
