"""Master stage: one known gain puts the voice at -16 LUFS; a limiter holds the true peak.

Owns turning the float mix into the final 16-bit samples.  Loudness is anchored to
the voice (the dialogue anchoring of ATSC A/85 and EBU R128): the speak stage
levels every clip to ``speech.speaker.VOICE_LUFS`` while it speaks, and every
other layer's level is set relative to that voice (``render.levels``), so one
known gain, ``target - VOICE_LUFS``, puts the voice at the target and keeps every
layer where the script puts it.  No analysis of the session is needed before the
first sample.  A streaming look-ahead true-peak limiter acts only where the
gained mix would pass the ceiling.  The file's integrated loudness is whatever
the content makes it; ``Mastered.measured`` meters the samples as they are read
in order, for an honest report.  Everything is a pure function of the frame
range, so the exporter and the player get identical samples for the same time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from legsup_audio.dsp import HOT, LoudnessMeter, db, limiter_gain
from legsup_audio.render.mix import BLOCK_FRAMES, Mix

TARGET_LUFS = -16.0
#: A mono file is heard on two ears: it is mastered this much under the target
#: (BS.1770 counts its one channel once; ffmpeg's ``ebur128`` ``dualmono`` counts it twice).
MONO_AS_HEARD_DB = float(10 * np.log10(2.0))
#: The limiter's ceiling.  The product promises -1 dBTP in the exported file; MP3
#: encoding of the (clip-limited) neural voice overshoots by a few tenths of a dB,
#: so the PCM is held a dB lower.  The speak stage limits each clip so that at
#: the target gain it already stays under this (``speaker.VOICE_PEAK_DBTP``).
CEILING_DBTP = -2.0
LIMITER_WINDOW_S = 0.010  # gain changes are spread over 10 ms: fast, but no clicks
#: After a peak the limiter's gain is held this long before it recovers, so it never
#: follows the voice's pitch (a period is 4-10 ms) and shapes no waveform, only levels.
LIMITER_HOLD_S = 0.080
#: Mix chunks kept by ``Mastered`` (a read and its margins span at most three).
KEPT_CHUNKS = 4


def limiter_hold(rate: int) -> int:
    """How long the limiter holds its gain after a peak, in frames."""
    return int(rate * LIMITER_HOLD_S)


def limiter_window(rate: int) -> int:
    """The limiter's window in frames."""
    return max(1, int(rate * LIMITER_WINDOW_S))


def look_around(rate: int) -> int:
    """Frames of the mix either side of a frame that its mastered sample depends on (the limiter's reach)."""
    return limiter_hold(rate) + 2 * limiter_window(rate) + 64


@dataclass(frozen=True, slots=True)
class Loudness:
    integrated: float  # LUFS; -inf for silence
    peak: float  # dBFS: the sample peak (measured); nan when not known


class FloatSource(Protocol):
    rate: int
    channels: int
    total: int

    def render(self, start: int, n: int) -> np.ndarray: ...


def measure(source: FloatSource, block: int = BLOCK_FRAMES) -> Loudness:
    """Integrated loudness and sample peak of every frame of ``source``."""
    meter = LoudnessMeter(source.rate, source.channels)
    for start in range(0, source.total, block):
        meter.feed(source.render(start, min(block, source.total - start)))
    return Loudness(meter.integrated(), db(meter.peak))


class Mastered:
    """The finished session as 16-bit PCM: a ``PcmSource`` for encoders and players."""

    def __init__(self, mix: Mix, gain_db: float, ceiling_dbtp: float = CEILING_DBTP) -> None:
        self.mix = mix
        self.rate = mix.rate
        self.channels = mix.channels
        self.total = mix.total
        self.gain_db = gain_db
        self.gain = float(10 ** (gain_db / 20))
        self.ceiling = float(10 ** (ceiling_dbtp / 20))
        self.window = limiter_window(self.rate)
        self.hold = limiter_hold(self.rate)
        # Context either side so the limiter sees the same neighbourhood whatever the block.
        self.margin = look_around(self.rate)
        self._meter = LoudnessMeter(self.rate, self.channels)
        self._metered = 0  # frames fed to the meter: reads in order from the start are measured
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()

    def measured(self) -> Loudness | None:
        """Integrated loudness and sample peak of what was read, once every frame was read in order."""
        if self._metered < self.total:
            return None
        return Loudness(self._meter.integrated(), db(self._meter.peak))

    def render(self, start: int, n: int) -> np.ndarray:
        """float32, shape (n, channels): the gained and limited frames [start, start + n)."""
        a = max(0, start - self.margin)
        b = min(self.total, start + n + self.margin)
        out = np.zeros((n, self.channels), dtype=np.float32)
        if b <= a:
            return out
        x = self._mixed(a, b)
        x *= np.float32(self.gain)
        if float(np.abs(x).max()) > self.ceiling * HOT:  # only where something comes near the ceiling
            x *= limiter_gain(x, self.ceiling, self.window, self.hold)[:, None]
        piece = x[start - a : start - a + n]
        out[: piece.shape[0]] = piece
        return out

    def _mixed(self, a: int, b: int) -> np.ndarray:
        """The mix's frames [a, b), a new array, assembled from chunks on a fixed grid.

        Each read needs its neighbours' frames too (the limiter's margin), so reads in
        order would render a fifth of the session twice; a chunk is rendered once and
        kept while it is near.  The grid is fixed, so a frame's value never depends on
        which reads came before it: a seek and a straight run give the same samples.
        """
        size = BLOCK_FRAMES
        parts = []
        for k in range(a // size, (b - 1) // size + 1):
            chunk = self._chunks.get(k)
            if chunk is None:
                chunk = self.mix.render(k * size, size)
                self._chunks[k] = chunk
                while len(self._chunks) > KEPT_CHUNKS:
                    self._chunks.popitem(last=False)
            else:
                self._chunks.move_to_end(k)
            lo, hi = max(a, k * size) - k * size, min(b, (k + 1) * size) - k * size
            parts.append(chunk[lo:hi])
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def read(self, start: int, n: int) -> np.ndarray:
        """int16, shape (n, channels): frames [start, start + n) of the finished session."""
        x = self.render(start, n)
        if start == self._metered and start < self.total:
            self._meter.feed(x[: self.total - start])
            self._metered = min(self.total, start + n)
        return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)


def master(mix: Mix, target_lufs: float = TARGET_LUFS) -> tuple[Mastered, Loudness]:
    """The mix with the voice at ``target_lufs`` while it speaks (as heard), peaks held under the ceiling.

    Returns the mastered source and the voice's loudness in the mix before the
    gain (``VOICE_LUFS``: every clip is levelled to it).
    """
    from legsup_audio.speech.speaker import VOICE_LUFS

    return Mastered(mix, voice_gain_db(target_lufs, mix.channels)), Loudness(VOICE_LUFS, float("nan"))


def voice_gain_db(target_lufs: float, channels: int) -> float:
    """The master's gain: the levelled voice (``VOICE_LUFS``) to ``target_lufs`` as heard
    (a mono file ``MONO_AS_HEARD_DB`` lower)."""
    from legsup_audio.speech.speaker import VOICE_LUFS

    return target_lufs - VOICE_LUFS - as_heard_db(channels)


def as_heard_db(channels: int) -> float:
    """What hearing a file of ``channels`` adds to its plain BS.1770 loudness: a mono file
    plays on both ears (``MONO_AS_HEARD_DB``), a stereo one as it is measured."""
    return MONO_AS_HEARD_DB if channels == 1 else 0.0
