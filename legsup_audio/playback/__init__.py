"""Live playback: sending a rendered session to the sound card, with a display and keys.

This package owns ``legsup play`` below the CLI: the player seam (``player``), the
session driver with step navigation (``session``) and the interactive terminal
display (``display``).  It consumes a compiled ``Timeline`` and a ``PcmSource`` of
final samples; it never parses scripts, renders or masters audio.
"""

from __future__ import annotations

from legsup_audio.playback.player import (
    FakeClock,
    MemoryPlayer,
    PcmSource,
    Player,
    PlayRecord,
    SimpleaudioPlayer,
)
from legsup_audio.playback.position import next_step_start, prev_step_start
from legsup_audio.playback.session import EXIT_INTERRUPTED, is_interactive, play_session

__all__ = [
    "EXIT_INTERRUPTED",
    "FakeClock",
    "MemoryPlayer",
    "PcmSource",
    "PlayRecord",
    "Player",
    "SimpleaudioPlayer",
    "is_interactive",
    "next_step_start",
    "play_session",
    "prev_step_start",
]
