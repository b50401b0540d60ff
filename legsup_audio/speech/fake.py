"""A deterministic fake speech engine for fast tests and golden timelines.

Each clip's length depends only on the text and the rate (so timelines are
reproducible), and holds a soft tone burst so the renderer and loudness code
have real energy to place and measure.  No espeak-ng, no files.

It can also hang on purpose, like a wedged C call, so the supervised worker's
timeouts can be tested: a text containing ``[hang]`` never returns, and one
containing ``[hang-once]`` never returns the first time only: the first call
that can delete the file named by ``$LEGSUP_FAKE_HANG_ONCE`` hangs (a file,
because each try runs in a fresh worker process that remembers nothing).
"""

from __future__ import annotations

import os
import time

import numpy as np

from legsup_audio.speech.base import Clip, SpeechEngine, SpeechOptions, VoiceInfo
from legsup_audio.units import ms_to_frame

FAKE_RATE = 22050
HANG_MARK = "[hang]"
HANG_ONCE_MARK = "[hang-once]"
HANG_ONCE_ENV = "LEGSUP_FAKE_HANG_ONCE"


def fake_length_ms(text: str, rate_wpm: int = 150) -> int:
    """200 ms plus 60 ms per character at 150 words per minute, scaled by rate."""
    return int(round((200 + 60 * len(text)) * 150 / rate_wpm))


class FakeEngine(SpeechEngine):
    id = "fake"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def version(self) -> str:
        return "1"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("fake/en", "Fake English", ("en",)), VoiceInfo("fake/de", "Fake German", ("de",))]

    def synthesize(self, text: str, options: SpeechOptions) -> Clip:
        self.calls.append(text)
        if HANG_MARK in text or (HANG_ONCE_MARK in text and _claim(os.environ.get(HANG_ONCE_ENV))):
            while True:  # like a call stuck in C: only killing the process ends it
                time.sleep(3600)
        frames = ms_to_frame(fake_length_ms(text, options.rate), FAKE_RATE)
        t = np.arange(frames) / FAKE_RATE
        # A 220 Hz tone with 5 ms fades, at the asked volume: audible from its first ms.
        ramp = np.minimum(1.0, np.minimum(np.arange(frames), frames - 1 - np.arange(frames)) / (0.005 * FAKE_RATE))
        wave = 0.5 * options.volume * np.sin(2 * np.pi * 220 * t) * np.maximum(ramp, 0.2)
        return Clip((wave * 32767).astype(np.int16), FAKE_RATE)


def _claim(token: str | None) -> bool:
    """True for the one caller that deletes ``token`` (atomic across processes)."""
    if not token:
        return False
    try:
        os.unlink(token)
    except FileNotFoundError:
        return False
    return True
