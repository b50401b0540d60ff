"""Warnings: things a cue script may legally say but probably does not mean.

Owns the checks ``legsup validate`` runs on a script that is already valid and
compiled: a silence of half an hour or more (a ``pause`` or ``gap``: a unit typed
wrong?), a step of half an hour or more that is longer than all the session's
other steps put together (with three or more steps; with two, one is always the
longer) and not already explained by such a pause, one
cue's text over 400 characters (hard to follow lying down; split it), and a
voice profile whose language differs from the script's ``language:``.  Each is
a ``Problem`` of severity ``warning``, printed as ``FILE:LINE:COL: warning: ...``;
warnings never make a script invalid or change its exit status.
"""

from __future__ import annotations

import re

from legsup_audio.units import format_ms
from legsup_audio.errors import Problem
from legsup_audio.model import CueScript, Pause, Say, Step, Wait

#: Thresholds, tuned here and nowhere else.  Lying still for many minutes is the point of
#: the pose (5 to 20 is usual), so only a silence or a step of half an hour or more is worth
#: a word, and then as advice: it may be a unit typed wrong (`40m` for `40s`).
LONG_SILENCE_MS = 30 * 60_000
LONG_TEXT_CHARS = 400
MIN_STEPS_FOR_BALANCE = 3
MIN_DOMINANT_STEP_MS = LONG_SILENCE_MS
_LEAVE_IT = "if the long quiet is meant, leave it as it is"


def warnings_for(script: CueScript, timeline: object, voice_language: str | None = None) -> list[Problem]:
    """Every warning for a valid, compiled script, in line order."""
    file = str(script.path)
    found: list[Problem] = []

    def warn(line: int, col: int, message: str) -> None:
        found.append(Problem(file, line, col, message, severity="warning"))

    if script.gap >= LONG_SILENCE_MS:
        warn(1, 1, f"the script's gap is {format_ms(script.gap)} of silence after every cue: check its unit "
                   "(s for seconds, m for minutes)")
    warned_steps: set[str] = set()
    for step in script.steps:
        for cue in step.cues:
            if isinstance(cue, Pause) and cue.length >= LONG_SILENCE_MS:
                warned_steps.add(step.id)
                warn(cue.pos.line, cue.pos.col, f"a pause of {_minutes(cue.length)} in step '{step.id}' is a "
                     f"silence of over half an hour: {_unit_advice(cue.written)}{_LEAVE_IT}")
            if isinstance(cue, Say):
                if cue.gap is not None and cue.gap >= LONG_SILENCE_MS:
                    warn(cue.pos.line, cue.pos.col, f"a gap of {_minutes(cue.gap)} after this cue in step "
                         f"'{step.id}' is a silence of over half an hour: check its unit (s for seconds, m for "
                         f"minutes); {_LEAVE_IT}")
                if len(cue.text) > LONG_TEXT_CHARS:
                    warn(cue.pos.line, cue.pos.col, f"this cue is {len(cue.text)} characters long (over "
                         f"{LONG_TEXT_CHARS}): hard to follow with eyes closed; split it into shorter cues")
    spans = list(getattr(timeline, "steps", ()))
    if len(spans) >= MIN_STEPS_FOR_BALANCE:
        total = sum(span.end - span.start for span in spans)
        steps = {step.id: step for step in script.steps}
        for span in spans:
            length = span.end - span.start
            step = steps[span.id]
            if length > total - length and length >= MIN_DOMINANT_STEP_MS and span.id not in warned_steps:
                warn(step.pos.line, step.pos.col, f"step '{span.id}' lasts {format_ms(length)}, longer than all "
                     f"the other steps put together ({format_ms(total - length)}), {_longest_part(step, length)}: "
                     f"check its unit (s for seconds, m for minutes); {_LEAVE_IT}")
    if script.language and voice_language:
        if script.language.split("-")[0].lower() != voice_language.split("-")[0].lower():
            pos = script.voice_pos
            warn(pos.line if pos else 1, pos.col if pos else 1,
                 f"the script's language is '{script.language}' but voice profile '{script.voice}' speaks "
                 f"'{voice_language}'; pick a profile of that language (see `legsup voices`)")
    return sorted(found, key=lambda p: (p.line, p.col))


def _unit_advice(written: str) -> str:
    """A suggestion derived from the duration as written: `40m` may have meant `40s`."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|min|h)", written.strip(), re.IGNORECASE)
    if match:
        number, unit = match.groups()
        smaller = "s" if unit.lower() in ("m", "min") else "m"
        return f"if you meant {number}{smaller}, write {number}{smaller}; "
    match = re.fullmatch(r"(\d+):(\d\d)", written.strip())
    if match:
        return f"if you meant {int(match.group(1))} seconds, write {int(match.group(1))}s; "
    return ""


def _longest_part(step: Step, length: int) -> str:
    """What makes ``step`` as long as it is, in words."""
    if step.duration is not None and step.duration >= length - 1:
        return f"as its duration says ({format_ms(step.duration)})"
    if any(cue.at is not None and cue.at >= length // 2 for cue in step.cues if isinstance(cue, (Say, Wait))):
        return "because of an 'at:' late in it"
    if step.get("breathe") is not None:
        return "because of its breathing block"
    return "because of its cues"


def _minutes(ms: int) -> str:
    minutes = ms / 60_000
    return f"{minutes:g} minutes" if minutes == int(minutes) else format_ms(ms)
