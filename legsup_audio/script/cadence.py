"""Breathing cadences: the exact arithmetic of a ``breathe:`` block (SPEC section 3).

This module owns breathing patterns (presets, ``"4-7-8"`` literals and mappings),
linear ramps between two patterns, how many whole cycles fit in a length of time,
and the phase boundaries of a block in integer milliseconds.  Boundaries are computed in closed
form from the cycle index with exact rational arithmetic and rounded to the
millisecond only once, at the very end, so long blocks never drift.  The guide cues
(spoken words, counts or tones) are placed by ``guides``.  It is pure
arithmetic on plain values: no YAML, no audio, no speech engine; the caller maps
a :class:`CadenceError` to a script line and measures real spoken lengths.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from legsup_audio.errors import LegsupError

__all__ = [
    "GUIDES",
    "PHASE_KINDS",
    "PRESETS",
    "CadenceError",
    "Pattern",
    "Phase",
    "Ramp",
    "block_length",
    "cycles_for",
    "parse_pattern",
    "pattern_at",
    "phases",
]

#: Named patterns, in seconds, in the same order as a literal ("in-hold-out-hold").
PRESETS: dict[str, tuple[float, ...]] = {
    "box": (4, 4, 4, 4),
    "4-7-8": (4, 7, 8),
    "coherent": (5.5, 5.5),
    "relax": (4, 6),
}

#: The phases of one cycle, in the order they happen.
PHASE_KINDS: tuple[str, ...] = ("inhale", "hold", "exhale", "hold_out")

#: The values ``guide:`` accepts.
GUIDES: tuple[str, ...] = ("words", "count", "tone", "silent")

_MS_PER_S = 1000
#: The literal forms and which fields their parts fill, by number of parts.
_LITERAL_FIELDS: dict[int, tuple[str, ...]] = {
    2: ("inhale", "exhale"),
    3: ("inhale", "hold", "exhale"),
    4: ("inhale", "hold", "exhale", "hold_out"),
}
_HOW_TO_WRITE = (
    "write seconds as in-out (4-6), in-hold-out (4-7-8) or in-hold-out-hold (4-4-4-4), "
    f"a mapping {{inhale, hold, exhale, hold_out}}, or a name: {', '.join(PRESETS)}"
)


class CadenceError(LegsupError, ValueError):
    """A breathing pattern, ramp, cycle count or guide that cannot work as given."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Pattern:
    """One breathing cycle: phase lengths in seconds, as the user wrote them."""

    inhale: float
    hold: float
    exhale: float
    hold_out: float = 0.0

    def __post_init__(self) -> None:
        for name in PHASE_KINDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CadenceError(f"{name} must be a number of seconds, not {value!r}")
            if not math.isfinite(value):
                raise CadenceError(f"{name} must be a finite number of seconds, not {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("inhale", "exhale"):
            if getattr(self, name) <= 0:
                raise CadenceError(
                    f"{name} must be longer than 0 seconds (got {_num(getattr(self, name))}); "
                    "give it a positive length such as 4"
                )
        for name in ("hold", "hold_out"):
            if getattr(self, name) < 0:
                raise CadenceError(
                    f"{name} cannot be negative (got {_num(getattr(self, name))}); "
                    "use 0 for no hold"
                )

    @property
    def cycle(self) -> float:
        """The length of one cycle in seconds."""
        return float(sum(self.exact()))

    def exact(self) -> tuple[Fraction, Fraction, Fraction, Fraction]:
        """The four phase lengths as exact fractions of a second, in ``PHASE_KINDS`` order.

        A float is read through its shortest decimal form, so ``4.3`` is exactly 43/10.
        """
        return (_frac(self.inhale), _frac(self.hold), _frac(self.exhale), _frac(self.hold_out))

    def label(self) -> str:
        """The shortest literal that gives this pattern back, e.g. ``"4-7-8"`` or ``"5.5-5.5"``."""
        if self.hold_out:
            parts: tuple[float, ...] = (self.inhale, self.hold, self.exhale, self.hold_out)
        elif self.hold:
            parts = (self.inhale, self.hold, self.exhale)
        else:
            parts = (self.inhale, self.exhale)
        return "-".join(_num(p) for p in parts)


@dataclass(frozen=True, slots=True)
class Ramp:
    """Move linearly from the block's pattern to ``to``, reaching it at cycle ``over``."""

    to: Pattern
    over: int  # cycles, >= 1

    def __post_init__(self) -> None:
        if isinstance(self.over, bool) or not isinstance(self.over, int) or self.over < 1:
            raise CadenceError(
                f"ramp 'over' must be a whole number of cycles, at least 1 (got {self.over!r})"
            )


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of one cycle, placed on the session clock in milliseconds."""

    kind: str  # "inhale" | "hold" | "exhale" | "hold_out"
    cycle: int  # 0-based cycle index within the block
    start: int  # ms, absolute
    end: int  # ms, absolute

    @property
    def duration(self) -> int:
        return self.end - self.start


# --- parsing -----------------------------------------------------------------------


def parse_pattern(value: object) -> Pattern:
    """Read a pattern from a preset name, a ``"4-7-8"``-style literal or a mapping.

    Raises :class:`CadenceError` with a message that says how to fix the value.
    """
    if isinstance(value, Pattern):
        return value
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, Mapping):
        return _parse_mapping(value)
    if isinstance(value, bool) or isinstance(value, int | float):
        raise CadenceError(
            f"breathing pattern {value!r} is a single number; a pattern needs at least an "
            f"inhale and an exhale, e.g. '{_num(value)}-{_num(value)}'; {_HOW_TO_WRITE}"
        )
    raise CadenceError(f"breathing pattern must be text or a mapping, not {value!r}; {_HOW_TO_WRITE}")


def _parse_text(value: str) -> Pattern:
    text = value.strip()
    name = text.lower()
    if name in PRESETS:
        return _build(dict(zip(_LITERAL_FIELDS[len(PRESETS[name])], PRESETS[name], strict=True)), value)
    if not any(ch.isdigit() for ch in text):
        close = difflib.get_close_matches(name, list(PRESETS), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CadenceError(
            f"unknown breathing pattern {value!r}: {hint}"
            f"the named patterns are {', '.join(PRESETS)}; or give seconds like 4-6, 4-7-8 or 4-4-4-4"
        )
    parts = [p.strip() for p in text.split("-")]
    if len(parts) not in _LITERAL_FIELDS:
        raise CadenceError(
            f"breathing pattern {value!r} has {len(parts)} part{'s' if len(parts) != 1 else ''}; "
            f"it needs 2 to 4 numbers of seconds separated by '-': {_HOW_TO_WRITE}"
        )
    numbers: list[float] = []
    for part in parts:
        if not part:
            raise CadenceError(
                f"breathing pattern {value!r} has an empty part; separate numbers of seconds "
                "with single dashes, e.g. 4-7-8 (lengths cannot be negative; a hold of 0 is written 0)"
            )
        number = _to_number(part)
        if number is None:
            raise CadenceError(
                f"breathing pattern {value!r}: {part!r} is not a number of seconds; "
                "use plain numbers such as 4 or 5.5, e.g. 4-7-8"
            )
        numbers.append(number)
    return _build(dict(zip(_LITERAL_FIELDS[len(numbers)], numbers, strict=True)), value)


def _parse_mapping(value: Mapping[object, object]) -> Pattern:
    unknown = [k for k in value if k not in PHASE_KINDS]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), PHASE_KINDS, n=1, cutoff=0.6)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise CadenceError(
            f"unknown key{'s' if len(unknown) > 1 else ''} in breathing pattern: {', '.join(hints)}; "
            f"the keys are {', '.join(PHASE_KINDS)}"
        )
    missing = [k for k in ("inhale", "exhale") if k not in value]
    if missing:
        raise CadenceError(
            f"breathing pattern mapping needs {' and '.join(missing)}, "
            "e.g. {inhale: 4, hold: 7, exhale: 8}"
        )
    fields: dict[str, float] = {}
    for key, raw in value.items():
        number = None if isinstance(raw, bool) else _to_number(raw)
        if number is None:
            raise CadenceError(
                f"breathing pattern {key!s} must be a number of seconds, not {raw!r}; e.g. {key!s}: 4"
            )
        fields[str(key)] = number
    return _build(fields, value)


def _build(fields: dict[str, float], source: object) -> Pattern:
    try:
        return Pattern(
            inhale=fields["inhale"],
            hold=fields.get("hold", 0.0),
            exhale=fields["exhale"],
            hold_out=fields.get("hold_out", 0.0),
        )
    except CadenceError as err:
        raise CadenceError(f"breathing pattern {_show(source)}: {err}") from None


def _to_number(raw: object) -> float | None:
    """A finite number from an int, float or numeric string; ``None`` if it is not one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        number = float(raw) if isinstance(raw, float) else raw
    elif isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            return None
        if number.is_integer() and "." not in raw:
            number = int(number)
    else:
        return None
    return number if math.isfinite(number) else None


# --- arithmetic --------------------------------------------------------------------


def pattern_at(pattern: Pattern, ramp: Ramp | None, cycle: int) -> Pattern:
    """The pattern of cycle ``cycle``: ``pattern`` moved ``min(cycle / over, 1)`` of the way to ``ramp.to``."""
    check_index(cycle, "cycle")
    if ramp is None or cycle == 0:
        return pattern
    if cycle >= ramp.over:
        return ramp.to
    schedule = _Schedule.of(pattern, ramp)
    return Pattern(*(float(Fraction(x, schedule.unit * _MS_PER_S)) for x in schedule.lengths(cycle)))


def block_length(pattern: Pattern, ramp: Ramp | None, cycles: int) -> int:
    """The length in ms of ``cycles`` cycles: the exact sum, rounded once."""
    _check_cycles(cycles)
    return _Schedule.of(pattern, ramp).start_ms(cycles)


def cycles_for(pattern: Pattern, ramp: Ramp | None, for_ms: int) -> int:
    """The number of whole cycles whose block fits in ``for_ms`` (a cycle is never cut)."""
    if isinstance(for_ms, bool) or not isinstance(for_ms, int) or for_ms < 0:
        raise CadenceError(f"'for' must be a length of time of 0 or more, not {for_ms!r}")
    schedule = _Schedule.of(pattern, ramp)
    one = schedule.start_ms(1)
    if one > for_ms:
        raise CadenceError(
            f"'for: {_seconds(for_ms)}' is shorter than one {pattern.label()} breathing cycle; "
            f"make 'for' at least {_seconds(one)}, or give 'cycles' instead"
        )
    # start_ms(n) never decreases with n: find the largest n with start_ms(n) <= for_ms.
    shortest = min(sum(schedule.first), sum(schedule.last))  # ramped cycles lie in between
    lo, hi = 1, for_ms * schedule.unit // shortest + 2
    while schedule.start_ms(hi) <= for_ms:  # only for sub-millisecond cycles
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if schedule.start_ms(mid) <= for_ms:
            lo = mid
        else:
            hi = mid
    return lo


def phases(pattern: Pattern, ramp: Ramp | None, cycles: int, start_ms: int) -> list[Phase]:
    """Every phase of a block of ``cycles`` cycles starting at ``start_ms``, in order.

    Each boundary is the exact time since the block start (closed form in the cycle
    index), rounded once to the ms; neighbours share a boundary, so phases tile the
    block exactly.  Phases that last 0 ms after rounding (a hold of 0) are left out.
    """
    _check_cycles(cycles)
    if isinstance(start_ms, bool) or not isinstance(start_ms, int):
        raise CadenceError(f"a block must start at a whole number of ms, not {start_ms!r}")
    schedule = _Schedule.of(pattern, ramp)
    out: list[Phase] = []
    last = len(PHASE_KINDS) - 1
    cycle_end = schedule.start(0)
    for k in range(cycles):
        t, cycle_end = cycle_end, schedule.start(k + 1)
        begin = start_ms + schedule.to_ms(t)
        for i, (kind, length) in enumerate(zip(PHASE_KINDS, schedule.lengths(k), strict=True)):
            # The last boundary of a cycle is the next cycle's start, from the same formula.
            t = cycle_end if i == last else t + length
            end = start_ms + schedule.to_ms(t)
            if end > begin:
                out.append(Phase(kind, k, begin, end))
                begin = end
    return out


@dataclass(frozen=True, slots=True)
class _Schedule:
    """Exact phase lengths of a possibly ramped block, as a function of the cycle index.

    Every time is an integer count of ``1 / unit`` ms, where ``unit`` is chosen so the
    phase lengths, the ramp's per-cycle steps and the arithmetic series of cycle starts
    are all whole numbers: exact rational arithmetic at the speed of ``int``.
    """

    first: tuple[int, ...]  # phase lengths of cycle 0, in 1/unit ms
    last: tuple[int, ...]  # phase lengths from cycle ``over`` on (== first without a ramp)
    over: int  # cycles the ramp takes; 0 without a ramp
    unit: int  # sub-divisions of a millisecond

    @classmethod
    def of(cls, pattern: Pattern, ramp: Ramp | None) -> _Schedule:
        first_ms = [x * _MS_PER_S for x in pattern.exact()]
        last_ms = first_ms if ramp is None else [x * _MS_PER_S for x in ramp.to.exact()]
        over = 0 if ramp is None else ramp.over
        unit = math.lcm(*(x.denominator for x in (*first_ms, *last_ms)))
        if over:
            unit *= 2 * over  # makes (b - a) * k / over and the series' m(m-1)/2 whole
        return cls(
            tuple(int(x * unit) for x in first_ms),
            tuple(int(x * unit) for x in last_ms),
            over,
            unit,
        )

    def lengths(self, k: int) -> tuple[int, ...]:
        if k >= self.over:
            return self.last
        return tuple(a + (b - a) * k // self.over for a, b in zip(self.first, self.last, strict=True))

    def start(self, k: int) -> int:
        """Time from the block start to the start of cycle ``k`` (closed form), in 1/unit ms."""
        a = sum(self.first)
        if not self.over:
            return k * a
        b = sum(self.last)
        m = min(k, self.over)
        # Cycles 0..m-1 last a + (b - a) * i / over: an arithmetic series.
        return m * a + (b - a) * m * (m - 1) // (2 * self.over) + max(k - self.over, 0) * b

    def to_ms(self, t: int) -> int:
        """Round to the nearest ms; an exact half rounds up, so whole-ms shifts commute with it."""
        return (2 * t + self.unit) // (2 * self.unit)

    def start_ms(self, k: int) -> int:
        return self.to_ms(self.start(k))


# --- small helpers -----------------------------------------------------------------


def _frac(x: float) -> Fraction:
    return Fraction(repr(float(x)))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _seconds(ms: int) -> str:
    return f"{_num(ms / _MS_PER_S)}s"


def _show(source: object) -> str:
    return str(dict(source)) if isinstance(source, Mapping) else repr(source)


def _check_cycles(cycles: int) -> None:
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise CadenceError(f"cycles must be a whole number, at least 1 (got {cycles!r})")


def check_index(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CadenceError(f"{name} must be a whole number, 0 or more (got {value!r})")
