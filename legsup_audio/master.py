"""Master stage: loudness to -16 LUFS with true peak kept under the ceiling.

Owns measuring integrated loudness (ITU-R BS.1770 / EBU R128, streaming) and
turning the float mix into the final 16-bit samples: one gain to reach the
target, then a look-ahead limiter that only acts where the gained signal would
pass the true-peak ceiling.  pyloudnorm measures whole arrays, which would hold
an hour of audio in memory, so its K-weighting filters are run here block by
block with their state carried across blocks, and the standard gating is
applied to the 100 ms energies.  Everything is a pure function of the frame
range, so the exporter and the player get identical samples for the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, sosfilt

from legsup_audio.render import BLOCK_FRAMES, Mix

TARGET_LUFS = -16.0
#: The limiter's ceiling.  The product promises -1 dBTP in the exported file, but
#: MP3 encoding of heavily limited speech overshoots by up to ~1.1 dB (measured
#: with ffmpeg's ebur128 on the built-in session), so the PCM is held 2 dB lower.
CEILING_DBTP = -3.0
LIMITER_WINDOW_S = 0.010  # gain changes are spread over 10 ms: fast, but no clicks
OVERSAMPLE = 4  # true-peak estimation, as BS.1770 asks at 44.1/48 kHz
#: Between-sample peaks exceed the sample peak by at most ~3 dB on real audio, so
#: only samples within 3 dB of the ceiling are oversampled.
HOT = 10 ** (-3 / 20)
_TAPS = 12  # per phase: the 48-tap interpolator of BS.1770 annex 2


def _interpolator() -> np.ndarray:
    """(phases-1, taps) polyphase FIR that gives the values between two samples."""
    taps = OVERSAMPLE * _TAPS
    h = firwin(taps, 1 / OVERSAMPLE) * OVERSAMPLE
    phases = h.reshape(_TAPS, OVERSAMPLE).T[:, ::-1]  # phase p holds h[p], h[p+4], ...
    return np.ascontiguousarray(phases[1:])


_PHASES = _interpolator()


def true_peaks(x: np.ndarray, threshold: float) -> np.ndarray:
    """Per frame: the largest absolute value at it or between it and the next frame.

    Frames whose neighbourhood stays under ``threshold`` get their sample peak;
    around the others the three in-between values are interpolated too.
    """
    frames = np.abs(x).max(axis=1).astype(np.float64)
    hot = np.flatnonzero(frames > threshold)
    if hot.size == 0:
        return frames
    hot = np.union1d(hot[hot > 0] - 1, hot)  # the gaps before and after each hot frame
    half = _TAPS // 2
    padded = np.pad(x.astype(np.float64), ((half, half), (0, 0)))
    # windows[i] = x[hot[i] - half + 1 : hot[i] + half + 1]: the taps around the gap after hot[i].
    idx = hot[:, None] + np.arange(1, _TAPS + 1)[None, :]
    windows = padded[idx]  # (H, taps, channels)
    between = np.abs(np.einsum("htc,pt->hpc", windows, _PHASES)).max(axis=(1, 2))
    peaks = frames.copy()
    peaks[hot] = np.maximum(peaks[hot], between)  # hot holds each index once
    return peaks
SILENCE_LUFS = -70.0  # absolute gate
GAIN_PASSES = 3  # at most this many re-measurements to correct for the limiter
GAIN_TOLERANCE_LU = 0.15


@dataclass(frozen=True, slots=True)
class Loudness:
    integrated: float  # LUFS; -inf for silence
    sample_peak: float  # dBFS


def k_weighting_sos(rate: int) -> np.ndarray:
    """pyloudnorm's K-weighting filters for ``rate`` as second-order sections."""
    meter = pyloudnorm.Meter(rate)  # filter_class "K-weighting"
    sections = []
    for stage in meter._filters.values():  # noqa: SLF001 - pyloudnorm exposes no other way
        b = np.asarray(stage.b, dtype=np.float64) * stage.passband_gain
        a = np.asarray(stage.a, dtype=np.float64)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return np.vstack(sections)


class LoudnessMeter:
    """Streaming BS.1770 integrated loudness: feed blocks in order, then read ``integrated``."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.sos = k_weighting_sos(rate)
        self.zi = np.zeros((self.sos.shape[0], 2, channels))
        self.step = rate // 10  # 100 ms; 400 ms gating blocks overlap by 75%
        self._carry = np.zeros((0, channels))
        self._energies: list[np.ndarray] = []  # sum of squares per 100 ms, per channel
        self.peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        if block.size:
            self.peak = max(self.peak, float(np.abs(block).max()))
        weighted, self.zi = sosfilt(self.sos, block.astype(np.float64), axis=0, zi=self.zi)
        data = np.concatenate([self._carry, weighted])
        whole = (data.shape[0] // self.step) * self.step
        if whole:
            squares = (data[:whole] ** 2).reshape(-1, self.step, data.shape[1]).sum(axis=1)
            self._energies.append(squares)
        self._carry = data[whole:]

    def integrated(self) -> float:
        if not self._energies:
            return float("-inf")
        sub = np.concatenate(self._energies)  # (n_100ms, channels)
        if sub.shape[0] < 4:
            return float("-inf")
        window = 4 * self.step
        # Mean square per 400 ms block, summed over channels (weight 1 for L, R and mono).
        z = np.lib.stride_tricks.sliding_window_view(sub, 4, axis=0).sum(axis=-1) / window
        power = z.sum(axis=1)
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10 * np.log10(power)
        above = power[block_lufs > SILENCE_LUFS]
        if above.size == 0:
            return float("-inf")
        relative_gate = -0.691 + 10 * np.log10(above.mean()) - 10
        gated = power[(block_lufs > SILENCE_LUFS) & (block_lufs > relative_gate)]
        return float(-0.691 + 10 * np.log10(gated.mean()))


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
    peak_db = 20 * np.log10(meter.peak) if meter.peak > 0 else float("-inf")
    return Loudness(meter.integrated(), float(peak_db))


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
        self.window = max(1, int(self.rate * LIMITER_WINDOW_S))
        # Context either side so the limiter sees the same neighbourhood whatever the block.
        self.margin = 2 * self.window + 64

    def render(self, start: int, n: int) -> np.ndarray:
        """float32, shape (n, channels): the gained and limited frames [start, start + n)."""
        a = max(0, start - self.margin)
        b = min(self.total, start + n + self.margin)
        if b <= a:
            return np.zeros((n, self.channels), dtype=np.float32)
        x = self.mix.render(a, b - a) * np.float32(self.gain)
        if float(np.abs(x).max()) > self.ceiling * HOT:
            x = x * self._limiter_gain(x)[:, None]
        out = np.zeros((n, self.channels), dtype=np.float32)
        lo = start - a
        piece = x[lo : lo + n]
        out[: piece.shape[0]] = piece
        return out

    def _limiter_gain(self, x: np.ndarray) -> np.ndarray:
        need = np.minimum(1.0, self.ceiling / np.maximum(true_peaks(x, self.ceiling * HOT), 1e-12))
        # A min over 2W+1 then a mean over W never rises above what any sample needs,
        # and turns the steps into smooth ramps.
        held = minimum_filter1d(need, size=2 * self.window + 1, mode="nearest")
        return uniform_filter1d(held, size=self.window, mode="nearest").astype(np.float32)

    def read(self, start: int, n: int) -> np.ndarray:
        """int16, shape (n, channels): frames [start, start + n) of the finished session."""
        y = np.rint(self.render(start, n) * 32767.0)
        return np.clip(y, -32768, 32767).astype(np.int16)


def master(mix: Mix, target_lufs: float = TARGET_LUFS) -> tuple[Mastered, Loudness]:
    """Measure the mix and return it gained to ``target_lufs`` and peak-limited.

    Limiting takes a little loudness off peaky speech, so while the limiter acts
    the limited result is measured again and the gain corrected by what it missed.
    """
    loudness = measure(mix)
    if not np.isfinite(loudness.integrated):
        return Mastered(mix, 0.0), loudness
    result = Mastered(mix, target_lufs - loudness.integrated)
    if result.gain * 10 ** (loudness.sample_peak / 20) <= result.ceiling * HOT:
        return result, loudness  # nothing comes near the ceiling: the limiter never acts
    # Loudness grows more slowly than the gain once the limiter bites: step along
    # the measured slope (secant method) instead of assuming one dB per dB.
    gain, level, slope = result.gain_db, loudness.integrated + result.gain_db, 1.0
    for _ in range(GAIN_PASSES):
        measured = measure(result).integrated
        if abs(target_lufs - measured) <= GAIN_TOLERANCE_LU:
            break
        if result.gain_db != gain:
            slope = min(1.0, max(0.2, (measured - level) / (result.gain_db - gain)))
        gain, level = result.gain_db, measured
        result = Mastered(mix, gain + (target_lufs - measured) / slope)
    return result, loudness
