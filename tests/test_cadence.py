"""Tests for legsup_audio.script.cadence: patterns, exact phase timing, ramps and guides."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legsup_audio.script.cadence import (
    PHASE_KINDS,
    PRESETS,
    CadenceError,
    Pattern,
    Phase,
    Ramp,
    block_length,
    cycles_for,
    parse_pattern,
    pattern_at,
    phases,
)
from legsup_audio.script.guides import COUNT_WORDS, PHASE_WORDS, GuideCue, guide_cues, too_slow
from legsup_audio.errors import LegsupError

# --- parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("box", Pattern(4, 4, 4, 4)),
        ("4-7-8", Pattern(4, 7, 8, 0)),
        ("coherent", Pattern(5.5, 0, 5.5, 0)),
        ("relax", Pattern(4, 0, 6, 0)),
        ("  Box ", Pattern(4, 4, 4, 4)),
        ("4-6", Pattern(4, 0, 6, 0)),
        ("4.5-6", Pattern(4.5, 0, 6, 0)),
        ("4-7-9", Pattern(4, 7, 9, 0)),
        ("3-1.25-5-2", Pattern(3, 1.25, 5, 2)),
        ("4 - 0 - 6", Pattern(4, 0, 6, 0)),
        ({"inhale": 4, "exhale": 6}, Pattern(4, 0, 6, 0)),
        ({"inhale": 4, "hold": 7, "exhale": 8, "hold_out": 0}, Pattern(4, 7, 8, 0)),
        ({"inhale": 4.25, "hold": 1, "exhale": 5, "hold_out": 2.5}, Pattern(4.25, 1, 5, 2.5)),
    ],
)
def test_parse_pattern_forms(value: object, expected: Pattern) -> None:
    got = parse_pattern(value)
    assert got == expected
    assert all(isinstance(getattr(got, k), float) for k in PHASE_KINDS)


def test_presets_table() -> None:
    assert PRESETS == {
        "box": (4, 4, 4, 4),
        "4-7-8": (4, 7, 8),
        "coherent": (5.5, 5.5),
        "relax": (4, 6),
    }


def test_478_preset_and_literal_agree() -> None:
    assert parse_pattern("4-7-8") == parse_pattern("4.0-7-8.000") == Pattern(4, 7, 8, 0)


def test_pattern_cycle_and_label() -> None:
    assert parse_pattern("4-7-8").cycle == 19.0
    assert parse_pattern("box").cycle == 16.0
    assert parse_pattern("coherent").cycle == 11.0
    assert parse_pattern("coherent").label() == "5.5-5.5"
    assert parse_pattern("4-7-8").label() == "4-7-8"
    assert parse_pattern("box").label() == "4-4-4-4"
    assert parse_pattern("4-0-6-2").label() == "4-0-6-2"


def test_parse_pattern_is_idempotent_on_patterns() -> None:
    p = Pattern(4, 0, 6, 0)
    assert parse_pattern(p) is p


def _error(value: object) -> str:
    with pytest.raises(CadenceError) as info:
        parse_pattern(value)
    return str(info.value)


def test_cadence_error_is_a_value_error_and_a_legsup_error() -> None:
    assert issubclass(CadenceError, ValueError)
    assert issubclass(CadenceError, LegsupError)
    assert CadenceError.exit_code == 2


@pytest.mark.parametrize(("typo", "meant"), [("boxx", "box"), ("cohrent", "coherent"), ("relx", "relax")])
def test_unknown_preset_suggests_closest(typo: str, meant: str) -> None:
    msg = _error(typo)
    assert f"did you mean {meant!r}?" in msg
    assert repr(typo) in msg
    for name in PRESETS:
        assert name in msg


def test_unknown_preset_without_close_match_lists_names() -> None:
    msg = _error("zzzzzz")
    assert "did you mean" not in msg
    assert "box, 4-7-8, coherent, relax" in msg


@pytest.mark.parametrize("value", ["0-6", "4-0", "-4-6", {"inhale": 0, "exhale": 6}, {"inhale": -2, "exhale": 6},
                                   {"inhale": 4, "exhale": -1}])
def test_zero_or_negative_inhale_exhale(value: object) -> None:
    msg = _error(value)
    assert "longer than 0 seconds" in msg or "empty part" in msg


def test_zero_inhale_message_names_the_field() -> None:
    msg = _error("0-6")
    assert "inhale must be longer than 0 seconds" in msg and "'0-6'" in msg


@pytest.mark.parametrize("value", [{"inhale": 4, "hold": -1, "exhale": 6},
                                   {"inhale": 4, "exhale": 6, "hold_out": -0.5}])
def test_negative_hold(value: object) -> None:
    msg = _error(value)
    assert "cannot be negative" in msg and "use 0 for no hold" in msg


def test_negative_hold_in_literal_is_an_empty_part() -> None:
    assert "empty part" in _error("4--1-6")


@pytest.mark.parametrize(("value", "parts"), [("4", "1 part;"), ("4.5", "1 part;"), ("1-2-3-4-5", "5 parts")])
def test_bad_part_count(value: str, parts: str) -> None:
    msg = _error(value)
    assert parts in msg and "2 to 4 numbers" in msg


@pytest.mark.parametrize(("value", "part"), [("4-x-6", "'x'"), ("4s-6s", "'4s'"), ("4-6-box", "'box'"),
                                             ("4-inf", "'inf'"), ("4-nan", "'nan'")])
def test_non_numeric_part(value: str, part: str) -> None:
    msg = _error(value)
    assert part in msg and "not a number of seconds" in msg


@pytest.mark.parametrize("value", [4, 5.5, True])
def test_single_number_is_an_error(value: object) -> None:
    assert "single number" in _error(value)


@pytest.mark.parametrize("value", [None, ["4", "6"], (4, 6)])
def test_wrong_type_is_an_error(value: object) -> None:
    assert "text or a mapping" in _error(value)


def test_unknown_mapping_key_suggests() -> None:
    msg = _error({"inhale": 4, "exhal": 6})
    assert "'exhal'" in msg and "did you mean 'exhale'?" in msg
    assert "inhale, hold, exhale, hold_out" in msg


def test_missing_mapping_keys() -> None:
    assert "needs inhale and exhale" in _error({"hold": 4})
    assert "needs exhale" in _error({"inhale": 4})


@pytest.mark.parametrize("raw", ["four", True, None, [4]])
def test_mapping_value_must_be_a_number(raw: object) -> None:
    assert "must be a number of seconds" in _error({"inhale": raw, "exhale": 6})


def test_ramp_over_must_be_at_least_one() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(CadenceError, match="whole number of cycles"):
            Ramp(Pattern(4, 0, 6, 0), bad)  # type: ignore[arg-type]


# --- exact timing --------------------------------------------------------------------


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def test_coherent_200_cycles_end_exactly() -> None:
    p = parse_pattern("coherent")
    ph = phases(p, None, 200, 12_345)
    assert ph[0].start == 12_345
    assert ph[-1].end == 12_345 + 2_200_000
    assert block_length(p, None, 200) == 2_200_000
    assert len(ph) == 400


def test_repeating_decimal_pattern_does_not_drift() -> None:
    # 4.3333 s per cycle = 4333.3 ms: summing rounded cycles (4333 each) would lose 90 ms by 300.
    p = parse_pattern({"inhale": 2.1111, "exhale": 2.2222})
    assert block_length(p, None, 300) == 1_299_990
    starts = [ph.start for ph in phases(p, None, 300, 0) if ph.kind == "inhale"]
    assert starts == [_round_half_up(Fraction(43333, 10) * k) for k in range(300)]
    assert starts[-1] == 1_295_657  # 299 * 4333.3 = 1295656.7


def test_rounding_is_half_up_and_shift_invariant() -> None:
    p = parse_pattern("0.0005-0.001")  # 1.5 ms per cycle
    assert block_length(p, None, 1) == 2
    for start in (0, 1, 2, 1001):
        ph = phases(p, None, 2, start)
        assert [(x.start - start, x.end - start) for x in ph] == [(0, 1), (1, 2), (2, 3)]
        # the first inhale rounds to 1 ms (0.5 up); the second inhale is 1.5..2 -> 2..2 and is dropped
        assert [x.kind for x in ph] == ["inhale", "exhale", "exhale"]


def test_478_phases() -> None:
    ph = phases(parse_pattern("4-7-8"), None, 2, 1000)
    assert ph == [
        Phase("inhale", 0, 1000, 5000),
        Phase("hold", 0, 5000, 12000),
        Phase("exhale", 0, 12000, 20000),
        Phase("inhale", 1, 20000, 24000),
        Phase("hold", 1, 24000, 31000),
        Phase("exhale", 1, 31000, 39000),
    ]


def test_box_has_hold_out() -> None:
    kinds = [p.kind for p in phases(parse_pattern("box"), None, 1, 0)]
    assert kinds == ["inhale", "hold", "exhale", "hold_out"]


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_cycles_must_be_positive_whole(bad: object) -> None:
    with pytest.raises(CadenceError, match="cycles must be a whole number"):
        phases(parse_pattern("box"), None, bad, 0)  # type: ignore[arg-type]
    with pytest.raises(CadenceError, match="cycles must be a whole number"):
        block_length(parse_pattern("box"), None, bad)  # type: ignore[arg-type]


# Phase lengths with up to 3 decimals (whole ms) from 0.5 s to 15 s; holds may be 0.
_phase_ms = st.integers(500, 15_000)
_hold_ms = st.one_of(st.just(0), _phase_ms)
_Drawn = tuple[Pattern, tuple[int, int, int, int]]


@st.composite
def _patterns(draw: st.DrawFn) -> _Drawn:
    ms = (draw(_phase_ms), draw(_hold_ms), draw(_phase_ms), draw(_hold_ms))
    return Pattern(*(m / 1000 for m in ms)), ms


_Block = tuple[Pattern, Ramp | None, tuple[int, ...], tuple[int, ...] | None, int, int]


@st.composite
def _blocks(draw: st.DrawFn) -> _Block:
    pattern, ms = draw(_patterns())
    ramp: Ramp | None = None
    to_ms: tuple[int, ...] | None = None
    over = 0
    if draw(st.booleans()):
        to, to_ms = draw(_patterns())
        over = draw(st.integers(1, 50))
        ramp = Ramp(to, over)
    cycles = draw(st.integers(1, 300))
    start_ms = draw(st.integers(0, 10_000_000))
    return pattern, ramp, ms, to_ms, cycles, start_ms


def _oracle_lengths(ms: tuple[int, ...], to_ms: tuple[int, ...] | None, over: int, k: int) -> list[Fraction]:
    """Exact phase lengths of cycle k in ms, interpolated independently of the module."""
    if to_ms is None or k >= over:
        src = ms if to_ms is None else to_ms
        return [Fraction(x) for x in src]
    f = Fraction(k, over)
    return [a + (b - a) * f for a, b in zip(ms, to_ms)]


@settings(max_examples=150, deadline=None)
@given(_blocks())
def test_phases_tile_exactly_and_match_the_exact_running_sum(block: _Block) -> None:
    pattern, ramp, ms, to_ms, cycles, start_ms = block
    over = ramp.over if ramp else 0
    ph = phases(pattern, ramp, cycles, start_ms)

    # tiling: starts at start_ms, no gaps, no overlaps, no empty phases
    assert ph[0].start == start_ms
    for a, b in zip(ph, ph[1:]):
        assert a.end == b.start
    assert all(p.end > p.start for p in ph)

    # the oracle: an exact (unrounded) running sum, each boundary rounded once
    expected: list[Phase] = []
    t = Fraction(0)
    for k in range(cycles):
        for kind, length in zip(PHASE_KINDS, _oracle_lengths(ms, to_ms, over, k)):
            if length > 0:
                expected.append(Phase(kind, k, start_ms + _round_half_up(t), start_ms + _round_half_up(t + length)))
            t += length
    assert ph == expected  # so kinds cycle in order, cycle indices run 0..cycles-1

    total = block_length(pattern, ramp, cycles)
    assert total == _round_half_up(t) == ph[-1].end - start_ms


@settings(max_examples=150, deadline=None)
@given(_patterns(), st.integers(1, 300), st.integers(0, 10_000_000))
def test_constant_pattern_never_drifts(pat: _Drawn, cycles: int, start_ms: int) -> None:
    pattern, _ = pat
    ph = phases(pattern, None, cycles, start_ms)
    assert block_length(pattern, None, cycles) == round(cycles * pattern.cycle * 1000)
    starts = [p.start for p in ph if p.kind == "inhale"]
    assert [p.cycle for p in ph if p.kind == "inhale"] == list(range(cycles))
    assert starts == [round(start_ms + k * pattern.cycle * 1000) for k in range(cycles)]
    kinds = [p.kind for p in ph if p.cycle == 0]
    assert kinds == [k for k in PHASE_KINDS if getattr(pattern, k) > 0]
    assert [p.kind for p in ph] == kinds * cycles


# --- ramps ---------------------------------------------------------------------------


def test_ramp_endpoints_and_linear_middle() -> None:
    start, to = parse_pattern("4-6"), parse_pattern("4-2-8")
    ramp = Ramp(to, 4)
    assert pattern_at(start, ramp, 0) == start
    assert pattern_at(start, ramp, 1) == Pattern(4, 0.5, 6.5, 0)
    assert pattern_at(start, ramp, 2) == Pattern(4, 1, 7, 0)
    assert pattern_at(start, ramp, 3) == Pattern(4, 1.5, 7.5, 0)
    assert pattern_at(start, ramp, 4) == to
    assert pattern_at(start, ramp, 99) == to
    assert pattern_at(start, None, 7) == start


def test_ramp_block_length_is_the_arithmetic_series() -> None:
    # 4-6 (10 s) to 4-8 (12 s) over 6 cycles: 10, 10.333.., 10.666.., 11, 11.333.., 11.666.., then 12 s.
    start, ramp = parse_pattern("relax"), Ramp(parse_pattern("4-8"), 6)
    assert block_length(start, ramp, 6) == 65_000
    assert block_length(start, ramp, 10) == 65_000 + 4 * 12_000
    assert block_length(start, ramp, 1) == 10_000
    assert block_length(start, ramp, 2) == 20_333


@settings(max_examples=100, deadline=None)
@given(_patterns(), _patterns(), st.integers(1, 50), st.integers(0, 120))
def test_ramp_property(a: _Drawn, b: _Drawn, over: int, k: int) -> None:
    (pa, ma), (pb, mb) = a, b
    got = pattern_at(pa, Ramp(pb, over), k)
    if k == 0:
        assert got == pa
    if k >= over:
        assert got == pb
    f = min(Fraction(k, over), Fraction(1))
    for name, x, y in zip(PHASE_KINDS, ma, mb):
        assert getattr(got, name) == pytest.approx(float((x + (y - x) * f) / 1000), abs=1e-12)


def test_pattern_at_rejects_negative_cycle() -> None:
    with pytest.raises(CadenceError):
        pattern_at(parse_pattern("box"), None, -1)


# --- cycles_for ----------------------------------------------------------------------


def test_cycles_for_whole_cycles_only() -> None:
    p = parse_pattern("coherent")  # 11 s
    assert cycles_for(p, None, 11_000) == 1
    assert cycles_for(p, None, 21_999) == 1
    assert cycles_for(p, None, 22_000) == 2
    assert cycles_for(p, None, 300_000) == 27  # 5 min: 27 * 11 = 297 s
    assert cycles_for(parse_pattern("4-7-8"), None, 5 * 60_000) == 15


def test_cycles_for_with_ramp() -> None:
    start, ramp = parse_pattern("relax"), Ramp(parse_pattern("4-8"), 6)
    assert cycles_for(start, ramp, 65_000) == 6
    assert cycles_for(start, ramp, 64_999) == 5
    assert cycles_for(start, ramp, 65_000 + 12_000) == 7


@settings(max_examples=100, deadline=None)
@given(_blocks(), st.integers(0, 4_000_000))
def test_cycles_for_is_the_largest_fit(block: _Block, for_ms: int) -> None:
    pattern, ramp, *_ = block
    if block_length(pattern, ramp, 1) > for_ms:
        with pytest.raises(CadenceError):
            cycles_for(pattern, ramp, for_ms)
        return
    n = cycles_for(pattern, ramp, for_ms)
    assert block_length(pattern, ramp, n) <= for_ms < block_length(pattern, ramp, n + 1)


def test_cycles_for_too_short_says_what_would_fit() -> None:
    with pytest.raises(CadenceError) as info:
        cycles_for(parse_pattern("4-7-8"), None, 10_000)
    msg = str(info.value)
    assert "'for: 10s' is shorter than one 4-7-8 breathing cycle" in msg
    assert "at least 19s" in msg
    with pytest.raises(CadenceError, match="at least 11s"):
        cycles_for(parse_pattern("coherent"), None, 0)


def test_cycles_for_rejects_negative_time() -> None:
    with pytest.raises(CadenceError, match="0 or more"):
        cycles_for(parse_pattern("box"), None, -5)


# --- guides --------------------------------------------------------------------------


def test_count_words() -> None:
    assert COUNT_WORDS[:5] == ("one", "two", "three", "four", "five")
    assert COUNT_WORDS[19] == "twenty"
    assert COUNT_WORDS[20] == "twenty-one"
    assert len(COUNT_WORDS) >= 20
    assert PHASE_WORDS == {"inhale": "Breathe in", "hold": "Hold", "exhale": "And out", "hold_out": "Hold"}


def _speech(cues: list[GuideCue]) -> list[tuple[int, str | None]]:
    return [(c.start, c.text) for c in cues if c.kind == "speech"]


def test_words_guide() -> None:
    ph = phases(parse_pattern("box"), None, 2, 500)
    cues = guide_cues(ph, "words", None)
    assert [c.text for c in cues] == ["Breathe in", "Hold", "And out", "Hold"] * 2
    assert [c.start for c in cues] == [p.start for p in ph]
    assert [c.latest_end for c in cues] == [p.end for p in ph]
    assert all(c.kind == "speech" and c.rising is None for c in cues)
    assert [c.phase for c in cues] == ph


def test_count_guide_478_on_exact_seconds() -> None:
    ph = phases(parse_pattern("4-7-8"), None, 1, 2000)
    cues = guide_cues(ph, "count", None)
    words = ["two", "three", "four", "five", "six", "seven", "eight"]
    expected = (
        [(2000, "Breathe in")] + [(2000 + 1000 * i, w) for i, w in enumerate(words[:3], 1)]
        + [(6000, "Hold")] + [(6000 + 1000 * i, w) for i, w in enumerate(words[:6], 1)]
        + [(13000, "And out")] + [(13000 + 1000 * i, w) for i, w in enumerate(words[:7], 1)]
    )
    assert _speech(cues) == expected
    # each word must end before the next is due; the last before the block ends
    assert [c.latest_end for c in cues] == [s for s, _ in expected[1:]] + [21000]
    assert [c.phase.kind for c in cues] == ["inhale"] * 4 + ["hold"] * 7 + ["exhale"] * 8


def test_count_guide_fractional_phase() -> None:
    # 2.5 s inhale: "Breathe in" at 0, "two" at 1000, "three" at 2000 (before 2500), nothing at 3000
    cues = guide_cues(phases(parse_pattern("2.5-1"), None, 1, 0), "count", None)
    assert _speech(cues) == [(0, "Breathe in"), (1000, "two"), (2000, "three"), (2500, "And out")]
    assert [c.latest_end for c in cues] == [1000, 2000, 2500, 3500]


def test_count_guide_exact_second_phase_has_no_word_at_its_end() -> None:
    cues = guide_cues(phases(parse_pattern("2-2"), None, 1, 0), "count", None)
    assert _speech(cues) == [(0, "Breathe in"), (1000, "two"), (2000, "And out"), (3000, "two")]


def test_tone_guide() -> None:
    ph = phases(parse_pattern("box"), None, 2, 0)
    cues = guide_cues(ph, "tone", None)
    assert [(c.kind, c.start, c.latest_end, c.rising, c.text) for c in cues] == [
        ("tone", 0, 4000, True, None),
        ("tone", 8000, 12000, False, None),
        ("tone", 16000, 20000, True, None),
        ("tone", 24000, 28000, False, None),
    ]
    assert guide_cues(ph, "tone", 1) == cues  # voice_cycles does not matter for tones


def test_silent_guide() -> None:
    assert guide_cues(phases(parse_pattern("box"), None, 3, 0), "silent", None) == []
    assert guide_cues(phases(parse_pattern("box"), None, 3, 0), "silent", 2) == []


@pytest.mark.parametrize("guide", ["words", "count"])
def test_voice_cycles_switch_to_tones(guide: str) -> None:
    ph = phases(parse_pattern("4-7-8"), None, 4, 0)
    cues = guide_cues(ph, guide, 2)
    assert {c.phase.cycle for c in cues if c.kind == "speech"} == {0, 1}
    tones = [c for c in cues if c.kind == "tone"]
    assert [(c.phase.cycle, c.phase.kind, c.rising) for c in tones] == [
        (2, "inhale", True), (2, "exhale", False), (3, "inhale", True), (3, "exhale", False),
    ]
    last_speech = [c for c in cues if c.kind == "speech"][-1]
    assert last_speech.phase.cycle == 1 and last_speech.latest_end == 38_000
    assert [c.start for c in cues] == sorted(c.start for c in cues)
    assert all(c.kind == "tone" for c in guide_cues(ph, guide, 0))


def test_unknown_guide_and_bad_voice_cycles() -> None:
    ph = phases(parse_pattern("box"), None, 1, 0)
    with pytest.raises(CadenceError, match="did you mean 'tone'"):
        guide_cues(ph, "tones", None)
    with pytest.raises(CadenceError, match="voice_cycles"):
        guide_cues(ph, "words", -1)


def test_too_slow() -> None:
    cues = guide_cues(phases(parse_pattern("4-7-8"), None, 1, 0), "count", None)
    asked: list[str] = []

    def spoken(text: str) -> int:
        asked.append(text)
        return {"seven": 1001, "Breathe in": 1000}.get(text, 600)

    late = too_slow(cues, spoken)
    assert [(c.start, c.text) for c in late] == [(10_000, "seven"), (17_000, "seven")]
    assert len(asked) == len(set(asked))  # each distinct text is measured once
    assert too_slow(cues, lambda text: 1000) == []
    tones = guide_cues(phases(parse_pattern("4-7-8"), None, 1, 0), "tone", None)
    assert too_slow(tones, lambda text: 10**9) == []
