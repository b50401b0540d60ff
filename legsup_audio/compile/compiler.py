"""Compile stage: a ``CueScript`` plus spoken lengths to a ``Timeline``.

Owns the timing rules of SPEC section 2, exact to the millisecond: steps back to
back from ``lead_in``, a cursor inside each step moved by speech, gaps, pauses
and ``at`` (in a step that opens with a bell, the cues and their ``at`` times begin
the bell's ``lead`` after the step's start), step ``duration`` as a minimum, and
the ``tail``.  Spoken lengths
come in as a function (text -> ms) so the compiler stays pure: the speech stage
measures real clips, tests pass a fake.  Timing errors that only show once
lengths are known (``at`` before the cursor) are collected and raised together.
A session longer than the length limit (``limits.DEFAULT_MAX_LENGTH_MS``, or
``--max-length``) is an error too: checked first from the silences alone, which
need no speech and no expansion of breathing blocks, then on the exact layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from legsup_audio.compile.background import bell_leads, compile_background
from legsup_audio.compile.breathe import compile_breathe
from legsup_audio.compile.timeline import Event, SpokenLength, StepSpan, Timeline, event_sort_key
from legsup_audio.errors import Problem, ScriptError
from legsup_audio.model import CueScript, Pause, Say, Step, Wait
from legsup_audio.script.limits import DEFAULT_MAX_LENGTH_MS
from legsup_audio.units import format_ms


class BlockCompiler(Protocol):
    """Compiles a step's block (e.g. ``breathe``) starting at ``cursor``; returns events and the new cursor."""

    def __call__(
        self, block: object, step: Step, cursor: int, script: CueScript, spoken: SpokenLength, problems: list[Problem]
    ) -> tuple[list[Event], int]: ...


#: The compilers of step blocks, by the block's key, run after the step's cues (a new
#: block adds its compiler here, next to its parser in ``script.parse.STEP_BLOCKS``).
STEP_BLOCK_COMPILERS: dict[str, BlockCompiler] = {
    "breathe": compile_breathe,
}

#: Script-level passes (the background bed), in the order they run once timing is valid:
#: each gets the script and the laid-out timeline, returns it with its own events
#: (sorted) and extras added, and reports problems into the list.
TimelinePass = Callable[[CueScript, Timeline, list[Problem]], Timeline]
TIMELINE_PASSES: tuple[TimelinePass, ...] = (
    compile_background,
)


def compile_script(script: CueScript, spoken: SpokenLength, max_length_ms: int = DEFAULT_MAX_LENGTH_MS) -> Timeline:
    """Lay out every step and event of ``script``; raises ``ScriptError`` on timing errors.

    A session longer than ``max_length_ms`` is an error, found before any block is laid out
    when its silences alone are too long.
    """
    check_length(script, max_length_ms)
    file = str(script.path)
    problems: list[Problem] = []
    events: list[Event] = []
    spans: list[StepSpan] = []
    start = script.lead_in
    leads = bell_leads(script)
    for step, lead in zip(script.steps, leads):
        # A step opened by a bell: its cues (and their `at` times) begin `lead` after the strike.
        cursor, step_events = _step_cues(script, step, start + lead, spoken, file, problems)
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
    if start + script.tail > max_length_ms:
        ends = [span.end for span in spans]
        raise ScriptError([_too_long(script, ends, start + script.tail, max_length_ms, at_least=False)])
    events.sort(key=event_sort_key)
    timeline = Timeline(
        title=script.title,
        duration=start + script.tail,
        steps=tuple(spans),
        events=tuple(events),
        voice=script.voice,
        author=script.author,
        language=script.language,
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


# --- the length limit -------------------------------------------------------------------


def check_length(script: CueScript, max_length_ms: int = DEFAULT_MAX_LENGTH_MS) -> None:
    """Raise ``ScriptError`` when the session is surely longer than ``max_length_ms``.

    Uses only what needs no speech: every clip counted as 0 ms long, so the result is a
    lower bound of the real length.  Cheap (a breathing block's length is closed-form),
    so the pipeline runs it before speaking: a typo like ``pause: 90h`` fails at once.
    """
    ends = silent_step_ends(script)
    total = (ends[-1] if ends else script.lead_in) + script.tail
    if total > max_length_ms:
        raise ScriptError([_too_long(script, ends, total, max_length_ms, at_least=True)])


def silent_step_ends(script: CueScript) -> list[int]:
    """Where each step would end if every spoken clip took no time: a lower bound of each end."""
    ends: list[int] = []
    start = script.lead_in
    for step, lead in zip(script.steps, bell_leads(script)):
        origin = cursor = start + lead
        for cue in step.cues:
            if isinstance(cue, Pause):
                cursor += cue.length
                continue
            if cue.at is not None:  # an `at` before the cursor is an error, reported by the real layout
                cursor = max(cursor, origin + cue.at)
            if isinstance(cue, Say):
                cursor += cue.gap if cue.gap is not None else script.gap
        for key, block in step.extras:
            length = getattr(block, "length", None) if key in STEP_BLOCK_COMPILERS else None
            if isinstance(length, int):
                cursor += length
        end = max(cursor, start + step.duration) if step.duration is not None else cursor
        ends.append(end)
        start = end
    return ends


def _too_long(script: CueScript, ends: list[int], total: int, limit: int, *, at_least: bool) -> Problem:
    """The problem for a session over the limit, at the step during which it passes the limit."""
    index = next((i for i, end in enumerate(ends) if end + script.tail > limit), None)
    line, col, where = 1, 1, ""
    if index is not None:
        step = script.steps[index]
        line, col, where = step.pos.line, step.pos.col, f" (it passes the limit in step '{step.id}')"
    hours = total // 3_600_000 + 1
    fix = f"--max-length {hours}h" if hours <= 1000 else "--max-length, or check for a duration far too long"
    return Problem(
        str(script.path), line, col,
        f"the session {'would last at least' if at_least else 'lasts'} {_span(total)}, over the limit of "
        f"{_span(limit)}{where}; shorten it, or raise the limit with {fix}",
    )


def _span(ms: int) -> str:
    """A length as people say it: ``4h``, ``4h 30m``, ``12m 3.5s``."""
    hours, rest = divmod(ms, 3_600_000)
    if hours > 1_000_000:
        return "over a million hours"
    minutes, rest = divmod(rest, 60_000)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if rest or not parts:
        parts.append(f"{rest / 1000:g}s")
    return " ".join(parts)
