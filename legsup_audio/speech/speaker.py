"""Speak stage: every distinct text of a script to a verified, trimmed, cached clip.

Owns the one place where engines are called: one call per distinct text that is
not already cached, each result checked (audible, non-empty) and trimmed of
leading and trailing silence before it is stored.  Callers get ``ClipRef``s whose
lengths drive the compiler and whose samples feed the renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from legsup_audio.errors import SpeechError
from legsup_audio.speech.base import Clip, SpeechEngine, SpeechOptions
from legsup_audio.speech.cache import ClipCache, ClipRef, clip_key

#: Trimming: samples quieter than this (relative to the clip's peak) count as silence,
#: and this much is kept before the first / after the last audible sample.
TRIM_THRESHOLD_DB = -40.0
TRIM_MARGIN_MS = 5


def trim_silence(clip: Clip) -> Clip | None:
    """The clip without its leading and trailing silence, or None if it is all silence."""
    samples = clip.samples
    if samples.size == 0:
        return None
    level = np.abs(samples.astype(np.int32))
    peak = int(level.max())
    if peak < 33:  # below -60 dBFS: nothing audible at all
        return None
    loud = np.flatnonzero(level >= peak * 10 ** (TRIM_THRESHOLD_DB / 20))
    margin = clip.rate * TRIM_MARGIN_MS // 1000
    first = max(0, int(loud[0]) - margin)
    last = min(samples.size, int(loud[-1]) + 1 + margin)
    return Clip(np.ascontiguousarray(samples[first:last]), clip.rate)


@dataclass
class Speaker:
    """Turns texts into cached clips with one engine and one set of options."""

    engine: SpeechEngine
    options: SpeechOptions
    cache: ClipCache

    def key(self, text: str) -> str:
        return clip_key(self.engine.id, self.engine.version(), self.options, text)

    def speak(self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None) -> dict[str, ClipRef]:
        """A clip for every text, synthesising only those not yet cached."""
        unique = list(dict.fromkeys(texts))
        version = self.engine.version()  # once: engines may be slow to report it
        refs: dict[str, ClipRef] = {}
        for done, text in enumerate(unique, start=1):
            key = clip_key(self.engine.id, version, self.options, text)
            ref = self.cache.get(key)
            if ref is None:
                ref = self.cache.put(key, self._synthesize(text))
            refs[text] = ref
            if progress:
                progress(done, len(unique))
        return refs

    def _synthesize(self, text: str) -> Clip:
        raw = self.engine.synthesize(text, self.options)
        trimmed = trim_silence(raw)
        if trimmed is None:
            raw = self.engine.synthesize(text, self.options)  # one more try: a racy empty clip
            trimmed = trim_silence(raw)
        if trimmed is None:
            raise SpeechError(f"the speech engine produced no audible sound for {text[:60]!r}")
        return trimmed
