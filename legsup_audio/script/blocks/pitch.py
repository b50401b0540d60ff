"""Pitches for the background bed: note names to frequencies, and which tones can sound.

This module owns turning a scientific-pitch note name such as ``A2``, ``C#3`` or
``Bb2`` into a frequency in Hz (twelve-tone equal temperament, A4 = 440 Hz), and the
checks on a tone's frequencies (below Nyquist; an isochronic pulse at most half its
tone).  It is a leaf that knows nothing about scripts or audio: the script stage
turns its ``ValueError`` into a script error with a line number, and the bed's
generators (``render.bed``) run the same checks when they are built.
"""

from __future__ import annotations

import math
import re

A4_HZ = 440.0
"""Concert pitch: the frequency of A4 (MIDI note 69)."""

_SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"": 0, "#": 1, "♯": 1, "##": 2, "b": -1, "♭": -1, "bb": -2}
_NOTE = re.compile(r"^([A-Ga-g])(##|#|♯|bb|b|♭)?(-?\d{1,2})$")


def note_to_midi(name: str) -> int:
    """The MIDI note number of ``name`` (``C4`` is 60, ``A4`` is 69).

    Raises ``ValueError`` with a message that shows the expected form when ``name``
    is not a note name.
    """
    match = _NOTE.match(name.strip()) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"not a note name: {name!r} (expected a letter A-G, an optional # or b, "
            "and an octave number, e.g. A2, C#3, Bb2)"
        )
    letter, accidental, octave = match.groups()
    midi = 12 * (int(octave) + 1) + _SEMITONE[letter.upper()] + _ACCIDENTAL[accidental or ""]
    if not 0 <= midi <= 127:
        raise ValueError(f"note {name!r} is outside the playable range C-1 to G9")
    return midi


def note_to_hz(name: str) -> float:
    """The frequency in Hz of a note name: ``note_to_hz("A2") == 110.0``.

    Sharps (``#``) and flats (``b``) are accepted, so ``C#3`` and ``Db3`` are the
    same pitch.  Raises ``ValueError`` for anything that is not a note name.
    """
    return A4_HZ * 2.0 ** ((note_to_midi(name) - 69) / 12.0)


def check_freq(what: str, freq: float, rate: int) -> float:
    """``freq`` as a float; ``ValueError`` unless it is above 0 and below Nyquist."""
    freq = float(freq)
    if not (math.isfinite(freq) and 0.0 < freq < rate / 2):
        raise ValueError(f"{what} must be between 0 and {rate / 2:g} Hz, not {freq:g}")
    return freq


def check_pulse_rate(pulse_rate: float, freq: float) -> float:
    """An isochronic pulse rate as a float; ``ValueError`` unless above 0 and at most ``freq / 2``."""
    rate = float(pulse_rate)
    if not (math.isfinite(rate) and 0.0 < rate <= freq / 2):
        raise ValueError(
            f"isochronic pulse rate must be above 0 and at most half the tone's "
            f"frequency ({freq / 2:g} Hz), not {pulse_rate}"
        )
    return rate
