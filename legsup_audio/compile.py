"""Compile stage: a ``CueScript`` plus spoken lengths to a ``Timeline``.

Owns the timing rules of SPEC section 2, exact to the millisecond: steps back to
back from ``lead_in``, a cursor inside each step moved by speech, gaps, pauses
and ``at``, step ``duration`` as a minimum, and the ``tail``.  Spoken lengths
come in as a function (text -> ms) so the compiler stays pure: the speech stage
measures real clips, tests pass a fake.  Timing errors that only show once
lengths are known (``at`` before the cursor) are collected and raised together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from legsup_audio.durations import format_ms
from legsup_audio.errors import Problem, ScriptError
from legsup_audio.model import CueScript, Pause, Say, Step, Wait
from legsup_audio.timeline import Event, StepSpan, Timeline, event_sort_key

SpokenLength = Callable[[str], int]


class BlockCompiler(Protocol):
    """Compiles a step's block (e.g. ``breathe``) starting at ``cursor``; returns events and the new cursor."""

    def __call__(
        self, block: object, step: Step, cursor: int, script: CueScript, spoken: SpokenLength, problems: list[Problem]
    ) -> tuple[list[Event], int]: ...


#: Extension point for step blocks owned by later features, run after the step's cues.
STEP_BLOCK_COMPILERS: dict[str, BlockCompiler] = {}

#: Extension point for script-level features (the background bed): each pass gets the
#: script and the laid-out timeline, returns it with its own events (sorted) and extras
#: added, and reports problems into the list; run in order once timing is valid.
TimelinePass = Callable[[CueScript, Timeline, list[Problem]], Timeline]
TIMELINE_PASSES: list[TimelinePass] = []


def compile_script(script: CueScript, spoken: SpokenLength) -> Timeline:
    """Lay out every step and event of ``script``; raises ``ScriptError`` on timing errors."""
    file = str(script.path)
    problems: list[Problem] = []
    events: list[Event] = []
    spans: list[StepSpan] = []
    start = script.lead_in
    for step in script.steps:
        cursor, step_events = _step_cues(script, step, start, spoken, file, problems)
        events.extend(step_events)
        for key, block in step.extras:
            if key in STEP_BLOCK_COMPILERS and block is not None:
                block_events, cursor = STEP_BLOCK_COMPILERS[key](block, step, cursor, script, spoken, problems)
                events.extend(block_events)
        end = max(cursor, start + step.duration) if step.duration is not None else cursor
        spans.append(StepSpan(step.id, step.title, start, end, step.pos.line))
        start = end
    if problems:
        raise ScriptError(problems)
    events.sort(key=event_sort_key)
    timeline = Timeline(
        title=script.title,
        duration=start + script.tail,
        steps=tuple(spans),
        events=tuple(events),
        voice=script.voice,
        author=script.author,
    )
    for timeline_pass in TIMELINE_PASSES:
        timeline = timeline_pass(script, timeline, problems)
    if problems:
        raise ScriptError(problems)
    return timeline


def _step_cues(
    script: CueScript, step: Step, start: int, spoken: SpokenLength, file: str, problems: list[Problem]
) -> tuple[int, list[Event]]:
    cursor = start
    cursor_line = step.pos.line  # the line whose cue last moved the cursor
    events: list[Event] = []
    for cue in step.cues:
        if isinstance(cue, Pause):
            cursor += cue.length
            cursor_line = cue.pos.line
            continue
        at = cue.at
        if at is not None:
            target = start + at
            if target < cursor:
                pos = cue.at_pos if isinstance(cue, Say) and cue.at_pos else cue.pos
                problems.append(Problem(
                    file, pos.line, pos.col,
                    f"'at: {format_ms(at)}' is before the cursor: what comes before it (up to line "
                    f"{cursor_line}) already runs to {format_ms(cursor - start)} into step '{step.id}'; "
                    f"set 'at' to {format_ms(cursor - start)} or later, or shorten the cues before it",
                ))
            else:
                cursor = target
            cursor_line = cue.pos.line
        if isinstance(cue, Wait):
            continue
        assert isinstance(cue, Say)
        length = spoken(cue.text)
        events.append(Event("speech", cursor, cursor + length, step.id, cue.pos.line, text=cue.text))
        cursor += length + (cue.gap if cue.gap is not None else script.gap)
        cursor_line = cue.pos.line
    return cursor, events
