"""Tests for legsup_audio.units: every accepted form, clear errors, and format_ms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legsup_audio.units import HINT, format_ms, parse_duration


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        # the forms of SPEC section 2
        ("1.5s", 1_500),
        ("90s", 90_000),
        ("2m", 120_000),
        ("1m30s", 90_000),
        ("1:30", 90_000),
        ("90", 90_000),
        ("1.5", 1_500),
        (90, 90_000),
        (1.5, 1_500),
        (0, 0),
        ("0", 0),
        ("0s", 0),
        # more of the same, and the extras the module documents (h, ms, h:mm:ss)
        (".5s", 500),
        ("0.25", 250),
        ("250ms", 250),
        ("1.5ms", 2),  # rounded to the nearest ms
        ("1h", 3_600_000),
        ("1h2m3s", 3_723_000),
        ("1m 30s", 90_000),
        ("1.5 s", 1_500),
        ("  2m  ", 120_000),
        ("2M", 120_000),
        ("1M30S", 90_000),
        ("0:05", 5_000),
        ("0:5", 5_000),
        ("1:30.5", 90_500),
        ("0:00.001", 1),
        ("59:59", 3_599_000),
        ("90:00", 5_400_000),
        ("1:02:03", 3_723_000),
        ("1:02:03.25", 3_723_250),
        ("1.001s", 1_001),
        ("0.1m", 6_000),
    ],
)
def test_accepted(value: object, ms: int) -> None:
    assert parse_duration(value) == ms


@pytest.mark.parametrize("value", [-1, -0.5, "-1", "-1s", "-0:30", " -2m", "-0"])
def test_negative(value: object) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_duration(value)


@pytest.mark.parametrize(
    "value",
    ["1x", "abc", "", "   ", "s", "m30", "1.5.5s", "1,5s", "1:70", "1:60", "1::30", "1:2:3", ":30", "1:",
     "1:30:", "5 minutes", "1s-2s", "1 2", "inf", "nan", "[1]"],
)
def test_not_a_duration(value: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    message = str(info.value)
    assert HINT in message
    assert repr(value) in message or f"'{value}'" in message


@pytest.mark.parametrize("value", [True, False, None, float("nan"), float("inf"), float("-inf")])
def test_not_a_number(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration|cannot be negative"):
        parse_duration(value)


def test_messages_read_clearly() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("1x")
    assert str(info.value) == "'1x' is not a duration: write it like 1.5s, 90s, 2m, 1m30s, 1:30 or a number of seconds"
    with pytest.raises(ValueError) as info:
        parse_duration("-5s")
    assert str(info.value) == "a duration cannot be negative (got '-5s')"
    with pytest.raises(ValueError) as info:
        parse_duration(True)
    assert str(info.value).startswith("expected a duration, got True: ")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0:00.000"),
        (1, "0:00.001"),
        (7_250, "0:07.250"),
        (725_000, "12:05.000"),
        (3_723_400, "1:02:03.400"),
        (-1_500, "-0:01.500"),
    ],
)
def test_format_ms(ms: int, text: str) -> None:
    assert format_ms(ms) == text


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=100 * 3_600_000))
def test_format_ms_reads_back(ms: int) -> None:
    assert parse_duration(format_ms(ms)) == ms


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**9))
def test_every_unit_form_agrees(ms: int) -> None:
    minutes, rest = divmod(ms, 60_000)
    assert parse_duration(f"{ms}ms") == ms
    assert parse_duration(f"{ms / 1000}s") == ms
    assert parse_duration(f"{ms / 1000}") == ms
    assert parse_duration(ms / 1000) == ms
    assert parse_duration(f"{minutes}m{rest / 1000}s") == ms
