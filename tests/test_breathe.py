"""The ``breathe:`` block through the real parser and compiler (SPEC section 3).

``cadence`` has its own arithmetic tests; these go through ``parse_script`` and
``compile_script``: the parsed block, the events it compiles to, the texts the
speech stage is asked for, errors with their positions, and a property test that
phases tile every block exactly.

Hand check of ``golden/scripts/breathing.yaml`` (fake length = 200 + 60 * chars ms),
read against ``golden/timelines/breathing.json``:
    lead_in 0.5s, gap 1s
    box: "Breathe with me." (16 ch, 1160 ms) 500 -> 1660, gap -> cursor 2660
         box is 4-4-4-4, 2 cycles of 16 s: phases at 2660, 6660, 10660, 14660, 18660 ... end 34660;
         default guide words: "Breathe in" (800), "Hold" (440), "And out" (620), "Hold" (440)
    count: 4-7-8, 1 cycle of 19 s: 34660 -> 53660; a count word at every whole second
         of each phase: inhale "Breathe in", two..four; hold "Hold", two..seven; exhale "And out", two..eight
    coherent: 5.5-5.5 ramped to 5-7 over 3 cycles, for 50s: cycles of 11, 11.333, 11.667, 12 s
         (sums 11, 22.333, 34, 46; a fifth would end at 58 > 50), so 4 cycles: 53660 -> 99660;
         second inhale 64660 + 5333.3 -> 69993; third cycle starts 53660 + 22333.3 -> 75993;
         one tone per inhale (rising 220 -> 330 Hz) and exhale (falling 330 -> 220 Hz)
    relax: 4-6, 3 cycles, count for the first cycle then tones: block 99660 -> 129660,
         the step's duration 40s makes it end at 139660
    silent: {2.5, 0.75, 3.125, 1} = 7.375 s x 2 = 14.75 s: 139660 -> 154410; phases only
    duration = 154410 + tail 2000 = 156410 ms
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legsup_audio.compile.breathe import Breathe
from legsup_audio.script.cadence import PRESETS, Pattern, Ramp
from legsup_audio.compile.compiler import compile_script
from legsup_audio.errors import ScriptError
from legsup_audio.model import Pos
from legsup_audio.script.parse import parse_script
from legsup_audio.speech.fake import fake_length_ms
from legsup_audio.compile.timeline import Timeline

PHASES = ("inhale", "hold", "exhale", "hold_out")


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_script("b.yaml", text=text)


def compiled(text: str, spoken=fake_length_ms) -> Timeline:  # type: ignore[no-untyped-def]
    return compile_script(parse(text), spoken)


def problems(text: str, spoken=fake_length_ms) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ScriptError) as info:
        compiled(text, spoken)
    return info.value.lines()


def block_of(text: str) -> Breathe:
    block = parse(text).steps[0].get("breathe")
    assert isinstance(block, Breathe)
    return block


# --- the parsed block ------------------------------------------------------------------


def test_full_block_is_parsed_with_positions() -> None:
    block = block_of("""\
title: T
steps:
  - title: Breathing
    breathe:
      pattern: 4-7-8
      cycles: 8
      guide: count
      voice_cycles: 3
      ramp: {to: 4-8, over: 6}
""")
    assert block.pattern == Pattern(4, 7, 8, 0)
    assert block.cycles == 8 and block.for_ms is None
    assert (block.guide, block.voice_cycles) == ("count", 3)
    assert block.ramp == Ramp(Pattern(4, 0, 8, 0), 6)
    assert block.pos == Pos(5, 7) and block.pattern_pos == Pos(5, 16) and block.guide_pos == Pos(7, 14)


def test_defaults_and_for_resolves_whole_cycles() -> None:
    block = block_of("title: T\nsteps:\n  - title: B\n    breathe: {pattern: relax, for: 59.9s}\n")
    assert block.guide == "words" and block.voice_cycles is None and block.ramp is None
    assert block.for_ms == 59_900 and block.cycles == 5  # 10 s cycles: a sixth would be cut
    assert block.length == 50_000


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_and_the_mapping_form(name: str) -> None:
    block = block_of(f"title: T\nsteps:\n  - title: B\n    breathe: {{pattern: {name}, cycles: 1}}\n")
    assert block.length == round(sum(PRESETS[name]) * 1000)
    mapping = block_of("title: T\nsteps:\n  - title: B\n    breathe:\n      pattern: {inhale: 4, exhale: 6.5}\n"
                       "      cycles: 2\n")
    assert mapping.pattern == Pattern(4, 0, 6.5, 0) and mapping.length == 21_000


def test_spoken_texts_include_the_guide_words() -> None:
    script = parse("""\
title: T
steps:
  - title: Words
    cues: [Settle in.]
    breathe: {pattern: box, cycles: 2}
  - title: Count
    breathe: {pattern: 3-2, cycles: 1, guide: count}
  - title: Tones
    breathe: {pattern: 4-6, cycles: 3, guide: tone}
  - title: Fading
    breathe: {pattern: 4-4, cycles: 5, guide: count, voice_cycles: 0}
  - title: After
    cues: [Done.]
""")
    assert script.spoken_texts() == ["Settle in.", "Breathe in", "Hold", "And out", "two", "three", "Done."]


# --- compiling -------------------------------------------------------------------------


def test_cues_then_block_and_block_only_steps() -> None:
    tl = compiled("""\
title: T
gap: 2s
lead_in: 1s
steps:
  - title: Both
    id: both
    cues: [Hello.]
    breathe: {pattern: 1-2, cycles: 2, guide: silent}
  - title: Only
    id: only
    duration: 10s
    breathe: {pattern: 2-2, cycles: 1, guide: tone}
""")
    hello = fake_length_ms("Hello.")  # 560 ms
    begin = 1000 + hello + 2000
    kinds = [(e.kind, e.start, e.end) for e in tl.events if e.step == "both"]
    assert kinds == [("speech", 1000, 1000 + hello), ("inhale", begin, begin + 1000),
                     ("exhale", begin + 1000, begin + 3000), ("inhale", begin + 3000, begin + 4000),
                     ("exhale", begin + 4000, begin + 6000)]
    both, only = tl.steps
    assert both.end == begin + 6000 == only.start
    assert only.end == only.start + 10_000  # the duration is longer than the 4 s block
    tones = [e for e in tl.events if e.kind == "tone"]
    assert [(t.start - only.start, t.end - only.start, t.get("pitch")) for t in tones] == [
        (0, 2000, "rising"), (2000, 4000, "falling")]
    assert (tones[0].get("from_hz"), tones[0].get("to_hz")) == (tones[1].get("to_hz"), tones[1].get("from_hz"))
    assert tones[0].get("from_hz") < tones[0].get("to_hz")


def test_phase_and_guide_events_point_at_their_lines() -> None:
    tl = compiled("""\
title: T
steps:
  - title: B
    breathe:
      pattern: 4-6
      cycles: 2
      guide: words
      voice_cycles: 1
""")
    assert {e.line for e in tl.events if e.kind in PHASES} == {5}
    assert {e.line for e in tl.events if e.kind in ("speech", "tone")} == {7}
    assert [e.get("cycle") for e in tl.events if e.kind in PHASES] == [1, 1, 2, 2]
    assert [(e.kind, e.text) for e in tl.events if e.kind in ("speech", "tone")] == [
        ("speech", "Breathe in"), ("speech", "And out"), ("tone", None), ("tone", None)]


def test_guide_speech_lasts_as_long_as_it_is_spoken() -> None:
    lengths = {"Breathe in": 900, "And out": 700}
    tl = compiled("title: T\nsteps:\n  - title: B\n    breathe: {pattern: 1-1, cycles: 1}\n", lengths.__getitem__)
    speech = [(e.text, e.end - e.start) for e in tl.speech()]
    assert speech == [("Breathe in", 900), ("And out", 700)]


TOO_FAST = """\
title: T
voice: default
steps:
  - title: B
    breathe:
      pattern: 1-1
      cycles: 40
      guide: count
"""


def test_too_slow_guide_is_one_error_per_word_with_the_real_lengths() -> None:
    slow = {"Breathe in": 1200, "And out": 700}
    lines = problems(TOO_FAST, slow.__getitem__)
    assert len(lines) == 1  # one line for 40 late cues
    assert lines[0].startswith("b.yaml:8:14: the guide word 'Breathe in' takes 1.2s to say")
    assert "40 times in all" in lines[0]
    assert "'guide: tone'" in lines[0] and "faster voice" in lines[0]


def test_a_faster_voice_makes_the_same_block_valid() -> None:
    fast = {"Breathe in": 999, "And out": 700}
    tl = compiled(TOO_FAST, fast.__getitem__)
    assert len(tl.speech()) == 80


def test_too_slow_without_guide_key_points_at_the_block() -> None:
    lines = problems("title: T\nsteps:\n  - title: B\n    breathe: {pattern: 0.5-0.5, cycles: 2}\n")
    assert [line.split(": the guide word")[0] for line in lines] == ["b.yaml:4:14", "b.yaml:4:14"]


# --- errors with positions -------------------------------------------------------------


def step(block: str) -> str:
    return f"title: T\nsteps:\n  - title: B\n    breathe:\n{block}"


@pytest.mark.parametrize(("block", "where", "words"), [
    ("      pattern: relx\n      cycles: 2\n", "5:16", "did you mean 'relax'?"),
    ("      pattern: 0-6\n      cycles: 2\n", "5:16", "inhale must be longer than 0 seconds"),
    ("      pattern: {inhale: 4, exhale: -6}\n      cycles: 2\n", "5:16", "exhale must be longer than 0"),
    ("      pattern: {inhale: 4, hold_out: -1, exhale: 6}\n      cycles: 2\n", "5:16", "cannot be negative"),
    ("      pattern: box\n      cycles: 2\n      for: 1m\n", "7:7", "either 'cycles' or 'for', not both"),
    ("      pattern: box\n      for: 15.999s\n", "6:12", "make 'for' at least 16s"),
    ("      pattern: box\n      cycles: 2\n      ramp: {to: 4-x, over: 2}\n", "7:18", "ramp 'to'"),
    ("      pattern: box\n      cycles: 2\n      ramp: {to: 4-6}\n", "7:13", "'ramp' needs 'over'"),
    ("      pattern: box\n      cycles: 0\n", "6:15", "cycles must be a whole number, 1 or more"),
    ("      pattern: box\n      cycles: 2\n      gide: tone\n", "7:7", "did you mean 'guide'?"),
    ("      cycles: 2\n", "5:7", "has no 'pattern'"),
])
def test_errors_name_line_and_column(block: str, where: str, words: str) -> None:
    lines = problems(step(block))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"b.yaml:{where}: "), lines[0]
    assert words in lines[0]


def test_every_problem_of_every_block_is_reported_together() -> None:
    text = ("title: T\nsteps:\n  - title: A\n    breathe: {pattern: boxx, cycles: 1}\n"
            "  - title: B\n    breathe: {pattern: box, cycles: 1, for: 1m}\n"
            "  - title: C\n    cues: [Hi]\n    breathe: {pattern: box, cycles: -1}\n")
    assert [line.split(": ")[0] for line in problems(text)] == ["b.yaml:4:24", "b.yaml:6:40", "b.yaml:9:37"]


# --- property: phases tile the block exactly, and the block is as long as promised ------------------

seconds = st.decimals(min_value="0.001", max_value="12", places=3)
holds = st.one_of(st.just(None), st.decimals(min_value="0", max_value="8", places=3))


@st.composite
def patterns(draw: st.DrawFn) -> tuple[str, tuple[Fraction, ...]]:
    """A pattern as written in YAML, and its four phase lengths in exact seconds."""
    inhale, exhale = draw(seconds), draw(seconds)
    hold, hold_out = draw(holds), draw(holds)
    if hold_out is not None and hold is None:
        hold = draw(st.decimals(min_value="0", max_value="8", places=3))
    parts = [p for p in (inhale, hold, exhale, hold_out) if p is not None]
    if len(parts) == 3:
        parts = [inhale, hold, exhale]
    exact = (Fraction(inhale), Fraction(hold or 0), Fraction(exhale), Fraction(hold_out or 0))
    if draw(st.booleans()):
        names = ("inhale", "hold", "exhale", "hold_out")
        written = "{" + ", ".join(f"{n}: {v}" for n, v in zip(names, (inhale, hold, exhale, hold_out))
                                  if v is not None) + "}"
    else:
        written = "-".join(str(p) for p in parts)
    return written, exact


def promised_ms(first: tuple[Fraction, ...], last: tuple[Fraction, ...], over: int, cycles: int) -> int:
    """The exact sum of every cycle's phases (linear ramp), in ms, rounded once (half up)."""
    total = Fraction(0)
    for k in range(cycles):
        share = Fraction(min(k, over), over) if over else Fraction(0)
        total += sum(a + (b - a) * share for a, b in zip(first, last))
    return math.floor(total * 1000 + Fraction(1, 2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pattern=patterns(),
    ramp=st.none() | st.tuples(patterns(), st.integers(min_value=1, max_value=30)),
    cycles=st.integers(min_value=1, max_value=60),
    lead_in=st.integers(min_value=0, max_value=10_000),
    cue_first=st.booleans(),
)
def test_phases_tile_the_block_exactly(pattern, ramp, cycles, lead_in, cue_first) -> None:  # type: ignore[no-untyped-def]
    written, first = pattern
    lines = [f"title: P\nlead_in: {lead_in}ms\ngap: 0.25s\nsteps:\n  - title: S\n    id: s\n"]
    if cue_first:
        lines.append("    cues: [Here we go.]\n")
    lines.append(f"    breathe:\n      pattern: {written}\n      cycles: {cycles}\n      guide: silent\n")
    last, over = first, 0
    if ramp is not None:
        (to_written, last), over = ramp
        lines.append(f"      ramp: {{to: {to_written}, over: {over}}}\n")
    tl = compile_script(parse_script("p.yaml", text="".join(lines)), fake_length_ms)

    start = lead_in + (fake_length_ms("Here we go.") + 250 if cue_first else 0)
    phases = [e for e in tl.events if e.kind in PHASES]
    # No gaps, no overlaps: each phase starts where the one before ended, from the block start.
    assert phases[0].start == start
    for before, after in itertools.pairwise(phases):
        assert after.start == before.end
        assert after.end > after.start
    # The block lasts exactly what the pattern (and ramp) promise, to the millisecond.
    length = promised_ms(first, last, over, cycles)
    assert phases[-1].end == start + length
    assert tl.steps[0].end == start + length
    # Whole cycles, each in phase order, numbered 1..cycles.
    assert sorted({e.get("cycle") for e in phases}) == list(range(1, cycles + 1))
    for e in phases:
        order = [p.kind for p in phases if p.get("cycle") == e.get("cycle")]
        assert order == sorted(order, key=PHASES.index)
    # Every phase is within a millisecond of its exact length.
    for e in phases:
        k = e.get("cycle") - 1
        share = Fraction(min(k, over), over) if over else Fraction(0)
        i = PHASES.index(e.kind)
        exact = (first[i] + (last[i] - first[i]) * share) * 1000
        assert abs(e.duration - exact) <= 1
