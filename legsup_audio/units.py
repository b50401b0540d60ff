"""Time and its units: durations as users write them, milliseconds, frames, clocks.

Owns the one conversion from what a user writes (``1.5s``, ``90s``, ``2m``,
``1m30s``, ``1:30``, ``1h``, or a plain number of seconds) to the program's
single time unit, integer milliseconds, and back to a readable form; and every
conversion between milliseconds, seconds (the JSON form), sample frames at
``SAMPLE_RATE`` and the ``mm:ss`` clock, so no other module multiplies by a sample
rate.  Knows nothing about YAML or positions: it raises ``ValueError`` with a
message the loader pins to a line.  A shared leaf: it imports nothing from the package.
"""

from __future__ import annotations

import re

_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|h|m|s)")
_UNITS = re.compile(r"^(?:\s*(?:\d+(?:\.\d+)?|\.\d+)\s*(?:ms|h|m|s)\s*)+$")
_CLOCK = re.compile(r"^(\d+):([0-5]?\d(?:\.\d+)?)$|^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$")

HINT = "write it like 1.5s, 90s, 2m, 1m30s, 1:30 or a number of seconds"


def parse_duration(value: object) -> int:
    """Return ``value`` as whole milliseconds (rounded to the nearest ms).

    Raises ``ValueError`` for anything that is not a duration, and for negative ones.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a duration, got {value!r}: {HINT}")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            raise ValueError(f"expected a duration, got {value!r}: {HINT}")
        if seconds < 0:
            raise ValueError(f"a duration cannot be negative (got {value!r})")
        return int(round(seconds * 1000))
    text = str(value).strip().lower()
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative (got {value!r})")
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number != number or number in (float("inf"),):
            raise ValueError(f"expected a duration, got {value!r}: {HINT}")
        return int(round(number * 1000))
    clock = _CLOCK.match(text)
    if clock:
        if clock.group(1) is not None:
            return int(round((int(clock.group(1)) * 60 + float(clock.group(2))) * 1000))
        h, m, s = clock.group(3), clock.group(4), clock.group(5)
        return int(round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000))
    if _UNITS.match(text):
        total = 0.0
        for amount, unit in _PART.findall(text):
            total += float(amount) * _UNIT_MS[unit]
        return int(round(total))
    raise ValueError(f"'{value}' is not a duration: {HINT}")


def format_ms(ms: int) -> str:
    """A compact clock form for tables: ``1:02:03.4``, ``12:05.0`` or ``7.25s``."""
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = rest / 1000
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{seconds:06.3f}"
    return f"{sign}{minutes}:{seconds:06.3f}"


# --- milliseconds, seconds, frames and clocks -------------------------------------------

#: The sample rate of every clip, layer and mix inside the program (frames per second).
SAMPLE_RATE = 44100


def ms_to_frame(ms: int, rate: int = SAMPLE_RATE) -> int:
    """The first frame at or after ``ms`` (exact for whole seconds)."""
    return ms * rate // 1000


def frame_to_ms(frame: int, rate: int = SAMPLE_RATE) -> int:
    """The millisecond that ``frame`` falls in (rounded down)."""
    return frame * 1000 // rate


def ms_to_s(ms: int) -> float:
    """Milliseconds to seconds for the JSON form (exact to the millisecond)."""
    return round(ms / 1000, 3)


def format_clock(ms: int) -> str:
    """``mm:ss`` (or ``h:mm:ss`` from an hour on), rounded down to the second."""
    s = max(0, ms) // 1000
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def timestamp(ms: int) -> str:
    """``HH:MM:SS.mmm`` (WebVTT cue times, Vorbis chapter comments); negatives count as 0."""
    ms = max(0, ms)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
