"""Compiling the ``breathe:`` step block (SPEC section 3) into timeline events.

Owns turning a parsed :class:`Breathe` into events: one ``inhale``/``hold``/``exhale``/
``hold_out`` event per phase, guide words as ``speech`` events and guide tones as
``tone`` events (rising on the inhale, falling on the exhale, between the two pitches
below).  A spoken guide word that cannot finish before the next one is due is a
compile error, measured with the real spoken lengths.  The sound of a tone belongs to
``render.tones``.
"""

from __future__ import annotations

from legsup_audio.compile.timeline import Event, SpokenLength
from legsup_audio.errors import Problem
from legsup_audio.model import CueScript, Step
from legsup_audio.script.blocks.breathe import Breathe
from legsup_audio.script import guides
from legsup_audio.script.guides import GuideCue
from legsup_audio.units import format_ms

#: The guide's pitch: it rises from low to high over an inhale and falls back over
#: an exhale (a fifth, A3 to E4: low, unhurried, well under the voice's formants).
TONE_LOW_HZ = 220.0
TONE_HIGH_HZ = 330.0


def compile_breathe(
    block: object, step: Step, cursor: int, script: CueScript, spoken: SpokenLength, problems: list[Problem]
) -> tuple[list[Event], int]:
    """The block's events from ``cursor`` on, and the cursor after its last cycle."""
    assert isinstance(block, Breathe)
    phase_line = block.pattern_pos.line
    guide_line = (block.guide_pos or block.pattern_pos).line
    phase_list = block.phases(cursor)
    events = [Event(p.kind, p.start, p.end, step.id, phase_line, data=(("cycle", p.cycle + 1),))
              for p in phase_list]
    cues = guides.guide_cues(phase_list, block.guide, block.voice_cycles)
    late = guides.too_slow(cues, spoken)
    if late:
        problems.extend(_too_slow(block, late, cursor, spoken, str(script.path)))
    for cue in cues:
        if cue.kind == "speech":
            assert cue.text is not None
            events.append(Event("speech", cue.start, cue.start + spoken(cue.text), step.id, guide_line,
                                text=cue.text, data=(("guide", block.guide),)))
        else:
            low_high = (TONE_LOW_HZ, TONE_HIGH_HZ) if cue.rising else (TONE_HIGH_HZ, TONE_LOW_HZ)
            events.append(Event("tone", cue.phase.start, cue.phase.end, step.id, guide_line,
                                data=(("pitch", "rising" if cue.rising else "falling"),
                                      ("from_hz", low_high[0]), ("to_hz", low_high[1]))
                                + ((("level", block.level),) if block.level is not None else ())))
    return events, cursor + block.length


def _too_slow(block: Breathe, late: list[GuideCue], start: int, spoken: SpokenLength, file: str) -> list[Problem]:
    """One problem per guide word that runs late: its first late place, and how often."""
    pos = block.guide_pos or block.pos
    by_text: dict[str, list[GuideCue]] = {}
    for cue in late:
        by_text.setdefault(cue.text or "", []).append(cue)
    out = []
    for text, cues in by_text.items():
        first = cues[0]
        times = f"; {len(cues)} times in all" if len(cues) > 1 else ""
        out.append(Problem(
            file, pos.line, pos.col,
            f"the guide word '{text}' takes {_seconds(spoken(text))} to say, but the next cue is due "
            f"{_seconds(first.latest_end - first.start)} after it starts (first at the {first.phase.kind} of "
            f"cycle {first.phase.cycle + 1}, {format_ms(first.start - start)} into the block{times}); "
            f"use 'guide: tone' for this pattern, slower phases, or a faster voice",
        ))
    return out


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}s"
