"""A deterministic fake speech engine for fast tests and golden timelines.

Each clip's length depends only on the text and the rate (so timelines are
reproducible), and holds a soft tone burst so the renderer and loudness code
have real energy to place and measure.  No espeak-ng, no files.
"""

from __future__ import annotations

import numpy as np

from legsup_audio.speech.base import Clip, SpeechEngine, SpeechOptions, VoiceInfo

FAKE_RATE = 22050


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
        frames = fake_length_ms(text, options.rate) * FAKE_RATE // 1000
        t = np.arange(frames) / FAKE_RATE
        # A 220 Hz tone with 5 ms fades, at the asked volume: audible from its first ms.
        ramp = np.minimum(1.0, np.minimum(np.arange(frames), frames - 1 - np.arange(frames)) / (0.005 * FAKE_RATE))
        wave = 0.5 * options.volume * np.sin(2 * np.pi * 220 * t) * np.maximum(ramp, 0.2)
        return Clip((wave * 32767).astype(np.int16), FAKE_RATE)
