"""Property tests (Hypothesis) of the compiler's timing invariants, SPEC section 2.

Scripts are generated as a plan of steps and cues; an `at` cue is drawn as "how far past
the cursor", so it is always valid.  Each plan is turned into a ``CueScript`` directly
and into YAML text that goes through the parser, and both must compile to timelines
that keep every invariant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legsup_audio.compile.compiler import compile_script
from legsup_audio.errors import ScriptError
from legsup_audio.model import CueScript, Pause, Pos, Say, Step, Wait
from legsup_audio.script.parse import parse_script
from legsup_audio.compile.timeline import Timeline

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_MS = 600_000

words = st.text(
    alphabet=st.characters(categories=["L", "N"], exclude_characters="\x85\xa0"), min_size=1, max_size=8
)
texts = st.lists(words, min_size=1, max_size=4).map(" ".join)
ms = st.integers(min_value=0, max_value=MAX_MS)
maybe_ms = st.none() | ms


@dataclass(frozen=True)
class CuePlan:
    kind: str  # "say", "pause", "wait"
    text: str | None = None
    gap: int | None = None
    length: int = 0  # pause
    at_extra: int | None = None  # say/wait: ms past the cursor


@dataclass(frozen=True)
class Plan:
    texts: tuple[str, ...]
    lengths: dict[str, int]
    gap: int
    lead_in: int
    tail: int
    steps: tuple[tuple[int | None, tuple[CuePlan, ...]], ...]  # (duration, cues)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    pool = tuple(draw(st.lists(texts, min_size=1, max_size=6, unique=True)))
    lengths = {t: draw(st.integers(min_value=0, max_value=30_000)) for t in pool}
    cue = st.one_of(
        st.builds(CuePlan, kind=st.just("say"), text=st.sampled_from(pool), gap=maybe_ms,
                  at_extra=st.none() | ms),
        st.builds(CuePlan, kind=st.just("pause"), length=ms),
        st.builds(CuePlan, kind=st.just("wait"), at_extra=ms),
    )
    steps = draw(st.lists(st.tuples(maybe_ms, st.lists(cue, min_size=1, max_size=6).map(tuple)),
                          min_size=1, max_size=5))
    return Plan(pool, lengths, draw(ms), draw(ms), draw(ms), tuple(steps))


def realise(plan: Plan) -> tuple[CueScript, dict[int, int]]:
    """The CueScript of a plan (one line per cue) and the expected cursor offset of each
    step's end of cues, keyed by step index.  `at` values are offsets from the step start
    computed from the plan, so every `at` is at or after the cursor."""
    line = 10
    steps: list[Step] = []
    cursor_after: dict[int, int] = {}
    for index, (duration, cue_plans) in enumerate(plan.steps):
        step_line = line
        line += 1
        offset = 0  # cursor - step start
        cues = []
        for cp in cue_plans:
            line += 1
            pos = Pos(line, 9)
            if cp.kind == "pause":
                cues.append(Pause(cp.length, pos))
                offset += cp.length
                continue
            at = None if cp.at_extra is None else offset + cp.at_extra
            if at is not None:
                offset = at
            if cp.kind == "wait":
                assert at is not None
                cues.append(Wait(at, pos))
                continue
            assert cp.text is not None
            cues.append(Say(cp.text, pos, gap=cp.gap, at=at, at_pos=None if at is None else Pos(line, 13)))
            offset += plan.lengths[cp.text] + (plan.gap if cp.gap is None else cp.gap)
        cursor_after[index] = offset
        steps.append(Step(f"Step {index}", f"s{index}", Pos(step_line, 5), tuple(cues), duration))
    script = CueScript(Path("p.yaml"), "p", "Plan", tuple(steps), gap=plan.gap, lead_in=plan.lead_in,
                       tail=plan.tail)
    return script, cursor_after


def check_invariants(script: CueScript, lengths: dict[str, int], tl: Timeline,
                     cursor_after: dict[int, int]) -> None:
    events = list(tl.events)
    assert [e.start for e in events] == sorted(e.start for e in events)
    speech = [e for e in events if e.kind == "speech"]
    assert speech == events  # only speech cues in these scripts
    for a, b in zip(speech, speech[1:]):
        assert a.end <= b.start, (a, b)
    # steps back to back from lead_in; session = last end + tail
    assert [s.id for s in tl.steps] == [s.id for s in script.steps]
    assert tl.steps[0].start == script.lead_in
    for a, b in zip(tl.steps, tl.steps[1:]):
        assert a.end == b.start
    assert tl.duration == tl.steps[-1].end + script.tail
    cues_by_line = {cue.pos.line: cue for step in script.steps for cue in step.cues}
    for index, (step, span) in enumerate(zip(script.steps, tl.steps)):
        cursor = span.start + cursor_after[index]
        expected_end = cursor if step.duration is None else max(span.start + step.duration, cursor)
        assert span.end == expected_end
        mine = [e for e in events if e.step == step.id]
        says = [c for c in step.cues if isinstance(c, Say)]
        assert [e.line for e in mine] == [c.pos.line for c in says]
        for event in mine:
            assert span.start <= event.start <= event.end <= span.end
            cue = cues_by_line[event.line]
            assert isinstance(cue, Say) and event.text == cue.text
            assert event.duration == lengths[cue.text]
            if cue.at is not None:
                assert event.start == span.start + cue.at
        # a Wait followed directly by a plain Say: the Say starts at step start + at
        for before, after in zip(step.cues, step.cues[1:]):
            if isinstance(before, Wait) and isinstance(after, Say) and after.at is None:
                [event] = [e for e in mine if e.line == after.pos.line]
                assert event.start == span.start + before.at
    assert Timeline.from_dict(tl.as_dict()) == tl
    assert Timeline.from_dict(json.loads(tl.to_json())) == tl


@SETTINGS
@given(plans())
def test_compiled_model_keeps_invariants(plan: Plan) -> None:
    script, cursor_after = realise(plan)
    tl = compile_script(script, plan.lengths.__getitem__)
    check_invariants(script, plan.lengths, tl, cursor_after)


# --- the same plans as YAML text, through the parser --------------------------------------

FORMATS = st.sampled_from(["ms", "s", "plain", "clock", "min_s"])


def write_duration(value: int, form: str) -> str:
    if form == "ms":
        return f"{value}ms"
    if form == "s":
        return f"{value / 1000}s"
    if form == "plain":
        return f"{value / 1000}"
    minutes, rest = divmod(value, 60_000)
    if form == "clock":
        return f"{minutes}:{rest // 1000:02d}.{rest % 1000:03d}"
    return f"{minutes}m{rest / 1000}s"


@st.composite
def yaml_plans(draw: st.DrawFn) -> tuple[Plan, str]:
    plan = draw(plans())
    d = lambda v: write_duration(v, draw(FORMATS))  # noqa: E731
    out = [
        "title: Generated",
        f"gap: {d(plan.gap)}",
        f"lead_in: {d(plan.lead_in)}",
        f"tail: {d(plan.tail)}",
        "steps:",
    ]
    for index, (duration, cue_plans) in enumerate(plan.steps):
        out.append(f"  - title: Step {index}")
        out.append(f"    id: s{index}")
        if duration is not None:
            out.append(f"    duration: {d(duration)}")
        out.append("    cues:")
        offset = 0
        for cp in cue_plans:
            if cp.kind == "pause":
                out.append(f"      - pause: {d(cp.length)}")
                offset += cp.length
                continue
            at = None if cp.at_extra is None else offset + cp.at_extra
            if at is not None:
                offset = at
            if cp.kind == "wait":
                out.append(f"      - at: {d(at)}")  # type: ignore[arg-type]
                continue
            assert cp.text is not None
            quoted = json.dumps(cp.text, ensure_ascii=False)
            if at is None and cp.gap is None and draw(st.booleans()):
                out.append(f"      - {quoted}")
            else:
                out.append(f"      - say: {quoted}")
                if at is not None:
                    out.append(f"        at: {d(at)}")
                if cp.gap is not None:
                    out.append(f"        gap: {d(cp.gap)}")
            offset += plan.lengths[cp.text] + (plan.gap if cp.gap is None else cp.gap)
    return plan, "\n".join(out) + "\n"


@SETTINGS
@given(yaml_plans())
def test_parsed_yaml_compiles_like_the_model(case: tuple[Plan, str]) -> None:
    plan, text = case
    parsed = parse_script("gen.yaml", text=text)
    model, cursor_after = realise(plan)
    # same content as the directly built model, apart from positions and titles
    assert (parsed.gap, parsed.lead_in, parsed.tail) == (model.gap, model.lead_in, model.tail)
    for got, want in zip(parsed.steps, model.steps, strict=True):
        assert (got.id, got.duration) == (want.id, want.duration)
        assert [_strip(c) for c in got.cues] == [_strip(c) for c in want.cues]
    tl = compile_script(parsed, plan.lengths.__getitem__)
    check_invariants(parsed, plan.lengths, tl, cursor_after)
    # and the very same times as the model
    model_tl = compile_script(model, plan.lengths.__getitem__)
    assert [(e.start, e.end, e.text) for e in tl.events] == [(e.start, e.end, e.text) for e in model_tl.events]
    assert [(s.start, s.end) for s in tl.steps] == [(s.start, s.end) for s in model_tl.steps]


def _strip(cue: Say | Pause | Wait) -> tuple[object, ...]:
    if isinstance(cue, Say):
        return ("say", cue.text, cue.gap, cue.at)
    if isinstance(cue, Pause):
        return ("pause", cue.length)
    return ("wait", cue.at)


# --- `at` before the cursor ----------------------------------------------------------------


@st.composite
def backwards(draw: st.DrawFn) -> tuple[Plan, int, bool, int]:
    """A valid plan, a step to break, whether the bad `at` also says something, and the
    bad offset (strictly before the cursor after that step's cues)."""
    plan = draw(plans())
    index = draw(st.integers(min_value=0, max_value=len(plan.steps) - 1))
    _, cursor_after = realise(plan)
    if cursor_after[index] == 0:  # nothing moved the cursor: add a pause that does
        duration, cues = plan.steps[index]
        extra = CuePlan("pause", length=draw(st.integers(min_value=1, max_value=MAX_MS)))
        steps = list(plan.steps)
        steps[index] = (duration, (*cues, extra))
        plan = Plan(plan.texts, plan.lengths, plan.gap, plan.lead_in, plan.tail, tuple(steps))
        _, cursor_after = realise(plan)
    bad_at = draw(st.integers(min_value=0, max_value=cursor_after[index] - 1))
    return plan, index, draw(st.booleans()), bad_at


@SETTINGS
@given(backwards())
def test_at_before_the_cursor_names_both_lines(case: tuple[Plan, int, bool, int]) -> None:
    plan, index, says, bad_at = case
    script, _ = realise(plan)
    step = script.steps[index]
    last = step.cues[-1]  # every cue moves or sets the cursor, so the last one is "the earlier line"
    line = last.pos.line + 1
    bad: Say | Wait = (Say(plan.texts[0], Pos(line, 9), at=bad_at, at_pos=Pos(line, 13)) if says
                       else Wait(bad_at, Pos(line, 9)))
    broken_step = Step(step.title, step.id, step.pos, (*step.cues, bad), step.duration)
    steps = list(script.steps)
    steps[index] = broken_step
    broken = CueScript(script.path, script.id, script.title, tuple(steps), gap=script.gap,
                       lead_in=script.lead_in, tail=script.tail)
    with pytest.raises(ScriptError) as info:
        compile_script(broken, plan.lengths.__getitem__)
    [problem] = info.value.problems
    assert problem.file == "p.yaml"
    assert problem.line == line
    assert problem.col == (13 if says else 9)
    assert f"(up to line {last.pos.line})" in problem.message
    assert re.search(rf"\bline {last.pos.line}\b", problem.message)
    assert f"step '{step.id}'" in problem.message
