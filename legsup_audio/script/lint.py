"""Warnings: things a cue script may legally say but probably does not mean.

Owns the checks ``legsup validate`` runs on a script that is already valid and
compiled: a very long silence (a ``pause`` or ``gap`` of 20 minutes or more: a
typo for seconds?), a step of 5 minutes or more that is longer than all the
session's other steps put together (with three or more steps; with two, one is
always the longer), one
cue's text over 400 characters (hard to follow lying down; split it), and a
voice profile whose language differs from the script's ``language:``.  Each is
a ``Problem`` of severity ``warning``, printed as ``FILE:LINE:COL: warning: ...``;
warnings never make a script invalid or change its exit status.
"""

from __future__ import annotations

from legsup_audio.units import format_ms
from legsup_audio.errors import Problem
from legsup_audio.model import CueScript, Pause, Say

#: Thresholds, tuned here and nowhere else.
LONG_SILENCE_MS = 20 * 60_000
LONG_TEXT_CHARS = 400
MIN_STEPS_FOR_BALANCE = 3
MIN_DOMINANT_STEP_MS = 5 * 60_000  # a short script's one-minute rest is no surprise


def warnings_for(script: CueScript, timeline: object, voice_language: str | None = None) -> list[Problem]:
    """Every warning for a valid, compiled script, in line order."""
    file = str(script.path)
    found: list[Problem] = []

    def warn(line: int, col: int, message: str) -> None:
        found.append(Problem(file, line, col, message, severity="warning"))

    if script.gap >= LONG_SILENCE_MS:
        warn(1, 1, f"the script's gap is {format_ms(script.gap)} after every cue: did you mean seconds?")
    for step in script.steps:
        for cue in step.cues:
            if isinstance(cue, Pause) and cue.length >= LONG_SILENCE_MS:
                warn(cue.pos.line, cue.pos.col, f"a pause of {_minutes(cue.length)} in step '{step.id}': "
                     "that is a very long silence; did you mean seconds (e.g. 40s)?")
            if isinstance(cue, Say):
                if cue.gap is not None and cue.gap >= LONG_SILENCE_MS:
                    warn(cue.pos.line, cue.pos.col, f"a gap of {_minutes(cue.gap)} after this cue in step "
                         f"'{step.id}': that is a very long silence; did you mean seconds?")
                if len(cue.text) > LONG_TEXT_CHARS:
                    warn(cue.pos.line, cue.pos.col, f"this cue is {len(cue.text)} characters long (over "
                         f"{LONG_TEXT_CHARS}): hard to follow with eyes closed; split it into shorter cues")
    spans = list(getattr(timeline, "steps", ()))
    if len(spans) >= MIN_STEPS_FOR_BALANCE:
        total = sum(span.end - span.start for span in spans)
        positions = {step.id: step.pos for step in script.steps}
        for span in spans:
            length = span.end - span.start
            if length > total - length and length >= MIN_DOMINANT_STEP_MS:
                pos = positions[span.id]
                warn(pos.line, pos.col, f"step '{span.id}' lasts {format_ms(length)}, longer than all the other "
                     f"steps put together ({format_ms(total - length)}): is a duration or pause too long?")
    if script.language and voice_language:
        if script.language.split("-")[0].lower() != voice_language.split("-")[0].lower():
            pos = script.voice_pos
            warn(pos.line if pos else 1, pos.col if pos else 1,
                 f"the script's language is '{script.language}' but voice profile '{script.voice}' speaks "
                 f"'{voice_language}'; pick a profile of that language (see `legsup voices`)")
    return sorted(found, key=lambda p: (p.line, p.col))


def _minutes(ms: int) -> str:
    minutes = ms / 60_000
    return f"{minutes:g} minutes" if minutes == int(minutes) else format_ms(ms)
