"""Breathing guides: which spoken words, counts or tones make a ``breathe:`` block audible.

This module owns the guide's words (the phase words, the number words for counting
seconds) and where each guide cue falls over the phases that ``cadence`` lays out,
with the latest moment a spoken cue must have ended by; and finding the cues whose
real spoken length runs late.  Pure, like ``cadence``: no YAML, no audio, no engine.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from legsup_audio.script.cadence import GUIDES, CadenceError, Phase, check_index

#: What the voice says at the start of each phase.
PHASE_WORDS: dict[str, str] = {
    "inhale": "Breathe in",
    "hold": "Hold",
    "exhale": "And out",
    "hold_out": "Hold",
}

_UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
          "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

#: Number words for counting seconds: ``COUNT_WORDS[0] == "one"`` ... ``"ninety-nine"``.
COUNT_WORDS: tuple[str, ...] = (
    _UNITS
    + _TEENS
    + tuple(t + ("" if u is None else "-" + u) for t in _TENS for u in (None, *_UNITS))
)


@dataclass(frozen=True, slots=True)
class GuideCue:
    """Something the guide makes audible: a spoken word at ``start`` or a tone over a phase."""

    kind: str  # "speech" or "tone"
    start: int  # ms
    text: str | None  # what is spoken (speech only)
    phase: Phase  # the phase it guides
    latest_end: int  # ms: speech must have ended by then; a tone ends at phase.end
    rising: bool | None = None  # tones: True while breathing in, False while breathing out


def count_word(n: int) -> str:
    """The word spoken for second ``n`` of a phase (1-based); digits past ``COUNT_WORDS``."""
    return COUNT_WORDS[n - 1] if 1 <= n <= len(COUNT_WORDS) else str(n)


def guide_cues(phase_list: list[Phase], guide: str, voice_cycles: int | None) -> list[GuideCue]:
    """The audible guide for ``phase_list`` (from :func:`phases`), in time order.

    ``words``: the phase word at each phase start.  ``count``: the phase word, then
    "two", "three", ... at each whole second after the phase start, before its end.
    ``tone``: a rising tone over each inhale, a falling one over each exhale.
    ``silent``: nothing.  With ``voice_cycles=N``, cycles from index N on use tones.
    A speech cue's ``latest_end`` is the next cue's start, or its phase's end if sooner.
    """
    if guide not in GUIDES:
        close = difflib.get_close_matches(str(guide), GUIDES, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CadenceError(f"unknown guide {guide!r}: {hint}use one of {', '.join(GUIDES)}")
    if voice_cycles is not None:
        check_index(voice_cycles, "voice_cycles")
    if guide == "silent":
        return []
    # Build (start, kind, text, phase, rising) first; latest_end needs the next cue's start.
    raw: list[tuple[int, str, str | None, Phase, bool | None]] = []
    for phase in phase_list:
        voiced = guide in ("words", "count") and (voice_cycles is None or phase.cycle < voice_cycles)
        if not voiced:
            if phase.kind in ("inhale", "exhale"):
                raw.append((phase.start, "tone", None, phase, phase.kind == "inhale"))
            continue
        raw.append((phase.start, "speech", PHASE_WORDS[phase.kind], phase, None))
        if guide == "count":
            n = 2
            while phase.start + (n - 1) * 1000 < phase.end:
                raw.append((phase.start + (n - 1) * 1000, "speech", count_word(n), phase, None))
                n += 1
    cues: list[GuideCue] = []
    for i, (start, kind, text, phase, rising) in enumerate(raw):
        latest = phase.end
        if kind == "speech" and i + 1 < len(raw):
            latest = min(latest, raw[i + 1][0])
        cues.append(GuideCue(kind, start, text, phase, latest, rising))
    return cues


def too_slow(cues: Iterable[GuideCue], spoken_ms: Callable[[str], int]) -> list[GuideCue]:
    """The speech cues whose spoken length would run past their ``latest_end``.

    ``spoken_ms`` is asked once per distinct text.
    """
    lengths: dict[str, int] = {}
    late: list[GuideCue] = []
    for cue in cues:
        if cue.kind != "speech" or cue.text is None:
            continue
        if cue.text not in lengths:
            lengths[cue.text] = spoken_ms(cue.text)
        if cue.start + lengths[cue.text] > cue.latest_end:
            late.append(cue)
    return late
