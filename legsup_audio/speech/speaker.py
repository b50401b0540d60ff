"""Speak stage: every distinct text of a script to a verified, mix-ready, cached clip.

Owns the one place where engines are called: one call per distinct text that is
not already cached, each result checked (audible, non-empty), then made ready to
mix once, before it is stored: trimmed of leading and trailing silence,
resampled to the session rate, levelled to a common loudness (so every cue
sounds equally loud, and the voice profile's volume is a level relative to the
background) and peak-limited (espeak-ng's voice has a very high crest factor;
taming it here, once per clip, keeps the master limiter out of the way).
Callers get ``ClipRef``s whose lengths drive the compiler and whose samples
feed the renderer; a ref whose entry turns out damaged when it is loaded asks
the speaker to make it again.  When the engine fails on one text, the error
names the script line of the first cue that speaks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np

from legsup_audio.dsp import k_weighted_squares, limiter_gain
from legsup_audio.errors import SpeechError
from legsup_audio.model import CueScript, Say
from legsup_audio.units import SAMPLE_RATE, ms_to_frame
from legsup_audio.speech.base import Clip, ClipFailed, SpeechEngine, SpeechOptions
from legsup_audio.speech.cache import ClipCache, ClipRef, clip_key

#: Trimming: samples quieter than this (relative to the clip's peak) count as silence,
#: and this much is kept before the first / after the last audible sample.
TRIM_THRESHOLD_DB = -40.0
TRIM_MARGIN_MS = 5
#: Every clip is levelled to this loudness (K-weighted, over the trimmed speech)
#: at volume 1.0, and its true peak held under VOICE_PEAK_DBTP.  A session must
#: end at -16 LUFS with true peak under the master ceiling (-3 dBTP before
#: encoding), and a session's gated loudness sits 2-5 dB under its clips', so
#: clips may peak about 8 dB over their loudness: then the master only applies
#: a gain and its limiter has nothing to do.
VOICE_LUFS = -20.0
VOICE_PEAK_DBTP = -12.0
VOICE_LIMITER_WINDOW_S = 0.004


def clip_loudness(x: np.ndarray, rate: int) -> float:
    """K-weighted loudness of a short clip, ungated (it is trimmed speech)."""
    power = float(np.mean(k_weighted_squares(x, rate)))
    return -0.691 + 10 * np.log10(power) if power > 0 else float("-inf")


def voice(clip: Clip, volume: float = 1.0, rate: int = SAMPLE_RATE) -> Clip:
    """A trimmed clip made ready to mix: at ``rate``, levelled and peak-limited."""
    x = clip.samples.astype(np.float64) / 32768.0
    if clip.rate != rate:
        from scipy.signal import resample_poly

        g = np.gcd(rate, clip.rate)
        x = resample_poly(x, rate // g, clip.rate // g)
    window = max(1, int(rate * VOICE_LIMITER_WINDOW_S))
    target = VOICE_LUFS + 20 * np.log10(max(volume, 1e-3))
    ceiling = 10 ** ((target + VOICE_PEAK_DBTP - VOICE_LUFS) / 20)
    gain = 1.0
    for _ in range(3):  # limiting lowers the loudness a little: correct for it
        y = x * gain
        y = y * limiter_gain(y[:, None], ceiling, window)
        missed = target - clip_loudness(y, rate)
        if abs(missed) < 0.1:
            break
        gain *= 10 ** (missed / 20)
    return Clip(np.clip(np.rint(y * 32767), -32768, 32767).astype(np.int16), rate)


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
    margin = ms_to_frame(TRIM_MARGIN_MS, clip.rate)
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

    def speak(
        self,
        texts: Iterable[str],
        progress: Callable[[int, int], None] | None = None,
        where: Mapping[str, str] | None = None,
    ) -> dict[str, ClipRef]:
        """A clip for every text, synthesising only those not yet cached.

        ``where`` maps a text to the ``file:line:col`` of the first cue that speaks
        it (see ``text_locations``), so an engine failure can name that line.
        """
        unique = list(dict.fromkeys(texts))
        where = where or {}
        version = self.engine.version()  # once: engines may be slow to report it
        refs: dict[str, ClipRef] = {}
        for done, text in enumerate(unique, start=1):
            key = clip_key(self.engine.id, version, self.options, text)
            ref = self.cache.get(key)
            if ref is None:
                ref = self.cache.put(key, self._synthesize(text, where.get(text)))
                ref.stats()  # measured now, while the clip is fresh, for every later export
            refs[text] = ref.with_repair(partial(self._remake, key, text, where.get(text)))
            if progress:
                progress(done, len(unique))
        return refs

    def _remake(self, key: str, text: str, location: str | None) -> ClipRef:
        ref = self.cache.put(key, self._synthesize(text, location))
        ref.stats()  # the old sidecar belongs to the damaged entry
        return ref

    def _synthesize(self, text: str, location: str | None = None) -> Clip:
        try:
            raw = self.engine.synthesize(text, self.options)
            trimmed = trim_silence(raw)
            if trimmed is None:
                raw = self.engine.synthesize(text, self.options)  # one more try: a racy empty clip
                trimmed = trim_silence(raw)
            if trimmed is None:
                raise ClipFailed(f"the speech engine produced no audible sound for {text[:60]!r}")
        except ClipFailed as exc:
            raise SpeechError(f"{location}: {exc}" if location else str(exc)) from None
        return voice(trimmed, self.options.volume)


def text_locations(script: CueScript) -> dict[str, str]:
    """``file:line:col`` of the first cue (or speaking block) that speaks each text."""
    file = str(script.path)
    found: dict[str, str] = {}
    for step in script.steps:
        for cue in step.cues:
            if isinstance(cue, Say):
                found.setdefault(cue.text, f"{file}:{cue.pos.line}:{cue.pos.col}")
        for _, block in step.extras:
            if callable(texts := getattr(block, "spoken_texts", None)):
                pos = getattr(block, "guide_pos", None) or getattr(block, "pos", None) or step.pos
                for text in texts():
                    found.setdefault(text, f"{file}:{pos.line}:{pos.col}")
    return found
