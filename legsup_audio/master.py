"""Master stage: the mix to -16 LUFS with true peak kept under the ceiling.

Owns turning the float mix into the final 16-bit samples: the session's
integrated loudness is measured (streaming, see ``dsp``), one gain brings it to
the target, and a look-ahead limiter acts only where the gained signal would
pass the true-peak ceiling.  The speech stage already levels every clip, so the
limiter is a safety net; when it does bite, the result is measured again and
the gain corrected.  Everything is a pure function of the frame range, so the
exporter and the player get identical samples for the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from legsup_audio.dsp import HOT, LoudnessMeter, db, integrated, limiter_gain, true_peaks
from legsup_audio.render import BLOCK_FRAMES, Mix

TARGET_LUFS = -16.0
#: The limiter's ceiling.  The product promises -1 dBTP in the exported file, but
#: MP3 encoding of limited speech overshoots by up to ~1.4 dB (measured with
#: ffmpeg's ebur128 on the built-in session: -1.6 dBTP), so the PCM is held 2 dB lower.
CEILING_DBTP = -3.0
LIMITER_WINDOW_S = 0.010  # gain changes are spread over 10 ms: fast, but no clicks
GAIN_PASSES = 3  # at most this many re-measurements to correct for the limiter
GAIN_TOLERANCE_LU = 0.15
#: Peaks passing the ceiling by at most this much are limited without measuring again.
LIGHT_LIMITING_DB = 2.0
#: The most the limiter may take off the loudest peaks to reach the target.  Dense
#: speech never needs it; sparse speech over a steady bed does (BS.1770's gate then
#: counts the bed, so the voice must be pressed up to -16 LUFS): 12 dB reaches the
#: target for 18% speech over a -36 dB drone, beyond that the file is left quieter.
MAX_LIMITING_DB = 12.0


@dataclass(frozen=True, slots=True)
class Loudness:
    integrated: float  # LUFS; -inf for silence
    peak: float  # dBFS: the sample peak (measured), or a bound on the true peak (planned)


class FloatSource(Protocol):
    rate: int
    channels: int
    total: int

    def render(self, start: int, n: int) -> np.ndarray: ...


def plan(mix: Mix, block: int = BLOCK_FRAMES) -> Loudness:
    """The mix's loudness and true peak, without rendering the voice track to measure it.

    Layers that can report their own K-weighted energies and peak (the voice) do
    so from their clips; the others are rendered and measured.  The layers are
    independent, so their energies add.  With other layers present, the peak is
    that of the real sum, block by block (a bed's peak rarely meets the voice's).
    """
    step = mix.rate // 10
    count = mix.total // step
    energies = np.zeros(count)
    reporting = [layer for layer in mix.layers if hasattr(layer, "energies")]
    rendered = [layer for layer in mix.layers if not hasattr(layer, "energies")]
    for layer in reporting:
        energies += layer.energies(step, count) * (mix.channels // layer.channels)
    if not rendered:
        return Loudness(integrated(energies, step), db(sum(layer.peak() for layer in reporting)))
    rest = Mix(mix.timeline, rendered, mix.rate)
    meter = LoudnessMeter(mix.rate, mix.channels)
    peak = 0.0
    for start in range(0, rest.total, block):
        n = min(block, rest.total - start)
        chunk = rest.render(start, n)
        meter.feed(chunk if chunk.shape[1] == mix.channels else np.repeat(chunk, mix.channels, axis=1))
        whole = chunk.astype(np.float32, copy=True)
        for layer in reporting:
            whole += layer.render(start, n)  # placing clips is cheap; mono spreads over the channels
        # true_peaks oversamples only frames within 3 dB of the largest peak so far.
        peak = max(peak, float(true_peaks(whole, max(peak, 1e-6) * HOT).max()))
    energies += meter.energies()[:count]
    return Loudness(integrated(energies, step), db(peak))


def measure(source: FloatSource, block: int = BLOCK_FRAMES) -> Loudness:
    """Integrated loudness and sample peak of every frame of ``source``."""
    meter = LoudnessMeter(source.rate, source.channels)
    for start in range(0, source.total, block):
        meter.feed(source.render(start, min(block, source.total - start)))
    return Loudness(meter.integrated(), db(meter.peak))


class Mastered:
    """The finished session as 16-bit PCM: a ``PcmSource`` for encoders and players."""

    def __init__(
        self,
        mix: Mix,
        gain_db: float,
        ceiling_dbtp: float = CEILING_DBTP,
        limit: bool = True,
        expected_lufs: float | None = None,
    ) -> None:
        self.mix = mix
        self.expected_lufs = expected_lufs  # the loudness this source is known or planned to have
        self.limit = limit  # False when the gained mix provably stays under the ceiling
        self.rate = mix.rate
        self.channels = mix.channels
        self.total = mix.total
        self.gain_db = gain_db
        self.gain = float(10 ** (gain_db / 20))
        self.ceiling = float(10 ** (ceiling_dbtp / 20))
        self.window = max(1, int(self.rate * LIMITER_WINDOW_S))
        # Context either side so the limiter sees the same neighbourhood whatever the block.
        self.margin = 2 * self.window + 64

    def render(self, start: int, n: int) -> np.ndarray:
        """float32, shape (n, channels): the gained and limited frames [start, start + n)."""
        a = max(0, start - self.margin)
        b = min(self.total, start + n + self.margin)
        out = np.zeros((n, self.channels), dtype=np.float32)
        if b <= a:
            return out
        x = self.mix.render(a, b - a)
        x *= np.float32(self.gain)
        if self.limit and float(np.abs(x).max()) > self.ceiling * HOT:
            x *= limiter_gain(x, self.ceiling, self.window)[:, None]
        piece = x[start - a : start - a + n]
        out[: piece.shape[0]] = piece
        return out

    def read(self, start: int, n: int) -> np.ndarray:
        """int16, shape (n, channels): frames [start, start + n) of the finished session."""
        y = np.rint(self.render(start, n) * 32767.0)
        return np.clip(y, -32768, 32767).astype(np.int16)


def master(mix: Mix, target_lufs: float = TARGET_LUFS) -> tuple[Mastered, Loudness]:
    """Measure the mix and return it gained to ``target_lufs`` and peak-limited.

    The limiter may take at most ``MAX_LIMITING_DB`` off the loudest peaks: when a
    steady bed under sparse speech would need more (the gating of BS.1770 counts
    the bed), the session is left quieter than the target rather than squashing
    the voice, and ``Mastered.expected_lufs`` says by how much.
    """
    loudness = plan(mix)
    if not np.isfinite(loudness.integrated):
        return Mastered(mix, 0.0, limit=False, expected_lufs=loudness.integrated), loudness
    wanted = target_lufs - loudness.integrated
    safe = CEILING_DBTP - loudness.peak  # the gain at which the highest peak meets the ceiling
    if wanted <= safe:
        # The common case: the speech stage levelled every clip, so a plain gain suffices.
        return Mastered(mix, wanted, limit=False, expected_lufs=target_lufs), loudness
    if wanted <= safe + LIGHT_LIMITING_DB:
        # Only rare coincidences of a voice peak with the bed's (a bell under a cue) pass
        # the ceiling, and by little: limiting them moves the loudness by hundredths of a
        # LU, so the gain stands and nothing is rendered to measure it again.
        return Mastered(mix, wanted, expected_lufs=target_lufs), loudness
    cap = safe + MAX_LIMITING_DB
    result = Mastered(mix, min(wanted, cap))
    # Loudness grows more slowly than the gain once the limiter bites: step along
    # the measured slope (secant method) instead of assuming one dB per dB.
    gain, level, slope = result.gain_db, target_lufs, 1.0
    for _ in range(GAIN_PASSES):
        measured = measure(result).integrated
        result.expected_lufs = measured
        if abs(target_lufs - measured) <= GAIN_TOLERANCE_LU or (result.gain_db >= cap and measured < target_lufs):
            break
        if result.gain_db != gain:
            slope = min(1.0, max(0.2, (measured - level) / (result.gain_db - gain)))
        gain, level = result.gain_db, measured
        result = Mastered(mix, min(cap, gain + (target_lufs - measured) / slope), expected_lufs=target_lufs)
    return result, loudness
