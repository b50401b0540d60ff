"""Signal measurements and the peak limiter shared by the speech and master stages.

Owns the numeric building blocks: BS.1770 K-weighting and integrated loudness
(streaming, block by block, with the standard gating), true-peak estimation
(4x oversampled only where a sample comes near the threshold), and the
look-ahead limiter gain.  pyloudnorm measures whole arrays, which would hold an
hour of audio in memory, so its K-weighting filters are run here with their
state carried across blocks.  No I/O, no knowledge of timelines.
"""

from __future__ import annotations

import functools

import numpy as np

# scipy.signal and pyloudnorm take over a second (and 70 MB) to import; they are
# imported where used (measuring loudness), so that rendering and playing a
# session whose levels are known never pays for them: the limiter and the
# true-peak interpolator below need numpy alone.

SILENCE_LUFS = -70.0  # the absolute gate of BS.1770
OVERSAMPLE = 4  # true-peak estimation, as BS.1770 asks at 44.1/48 kHz
#: Between-sample peaks exceed the sample peak by at most ~3 dB on real audio, so
#: only samples within 3 dB of the ceiling are oversampled.
HOT = 10 ** (-3 / 20)
_TAPS = 12  # per phase: a 48-tap interpolator, as in BS.1770 annex 2


def db(x: float) -> float:
    return float(20 * np.log10(x)) if x > 0 else float("-inf")


@functools.lru_cache(maxsize=4)
def k_weighting_sos(rate: int) -> np.ndarray:
    """pyloudnorm's K-weighting filters for ``rate`` as second-order sections."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)  # filter_class "K-weighting"
    sections = []
    for stage in meter._filters.values():  # noqa: SLF001 - pyloudnorm exposes no other way
        b = np.asarray(stage.b, dtype=np.float64) * stage.passband_gain
        a = np.asarray(stage.a, dtype=np.float64)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return np.vstack(sections)


class KWeighting:
    """BS.1770's K-weighting, run block after block with its state carried.

    ``squares(x)`` gives the squared K-weighted frames of the next block, summed
    over its channels: what every loudness measurement here adds up.
    """

    def __init__(self, rate: int, channels: int) -> None:
        self.sos = k_weighting_sos(rate)
        self.zi = [np.zeros((self.sos.shape[0], 2)) for _ in range(channels)]

    def settled(self) -> bool:
        """The filters hold (next to) nothing: silence in gives silence out."""
        return all(float(np.abs(z).max()) < 1e-12 for z in self.zi)

    def squares(self, x: np.ndarray) -> np.ndarray:
        """(n,) for the next frames ``x``, float (n, channels)."""
        from scipy.signal import sosfilt

        out = np.zeros(x.shape[0])
        for ch, zi in enumerate(self.zi):
            y, self.zi[ch] = sosfilt(self.sos, x[:, ch].astype(np.float64), zi=zi)
            out += np.square(y)
        return out


class LoudnessMeter:
    """Streaming BS.1770 integrated loudness: ``feed`` blocks in order, then ``integrated()``."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.weighting = KWeighting(rate, channels)
        self.step = rate // 10  # 100 ms; 400 ms gating blocks overlap by 75%
        self._carry = np.zeros(0)
        self._energies: list[np.ndarray] = []  # sum of squares per 100 ms, channels summed
        self.peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        """Add the next frames, float (n, channels)."""
        peak = float(np.abs(block).max()) if block.size else 0.0
        self.peak = max(self.peak, peak)
        if peak == 0.0 and self.weighting.settled():
            squares = np.zeros(block.shape[0])  # silence in, silence out: skip the filters
        else:
            squares = self.weighting.squares(block)
        data = np.concatenate([self._carry, squares]) if self._carry.size else squares
        whole = (data.shape[0] // self.step) * self.step
        if whole:
            self._energies.append(data[:whole].reshape(-1, self.step).sum(axis=1))
        self._carry = data[whole:]

    def energies(self) -> np.ndarray:
        """K-weighted sum of squares per 100 ms, summed over channels."""
        if not self._energies:
            return np.zeros(0)
        return np.concatenate(self._energies)

    def integrated(self) -> float:
        """Gated integrated loudness in LUFS (-inf for silence)."""
        return integrated(self.energies(), self.step)


def integrated(energies: np.ndarray, step: int) -> float:
    """BS.1770 gated loudness from K-weighted energies per 100 ms (``step`` frames), channels summed."""
    if energies.shape[0] < 4:
        return float("-inf")
    # Mean square per 400 ms block (channel weights are 1 for L, R and mono).
    power = np.lib.stride_tricks.sliding_window_view(energies, 4).sum(axis=-1) / (4 * step)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(power)
    loud = block_lufs > SILENCE_LUFS
    if not loud.any():
        return float("-inf")
    relative_gate = -0.691 + 10 * np.log10(power[loud].mean()) - 10
    gated = power[loud & (block_lufs > relative_gate)]
    return float(-0.691 + 10 * np.log10(gated.mean()))


def k_weighted_squares(x: np.ndarray, rate: int, tail: int = 0) -> np.ndarray:
    """Squared K-weighted samples of a mono signal, followed by ``tail`` frames of its filter ring-out."""
    padded = np.concatenate([x.astype(np.float64), np.zeros(tail)]) if tail else x.astype(np.float64)
    return KWeighting(rate, 1).squares(padded[:, None])


def loudness(x: np.ndarray, rate: int) -> float:
    """Integrated loudness of a whole (short) signal, float (n,) or (n, channels)."""
    meter = LoudnessMeter(rate, 1 if x.ndim == 1 else x.shape[1])
    meter.feed(x.reshape(x.shape[0], -1))
    return meter.integrated()


@functools.lru_cache(maxsize=1)
def _interpolator() -> np.ndarray:
    """(phases-1, taps) polyphase FIR that gives the three values between two samples.

    The filter is ``scipy.signal.firwin(48, 1/4)`` (a Hamming-windowed sinc, unit
    gain at DC), written out so that playing a session never imports scipy.signal.
    """
    taps = OVERSAMPLE * _TAPS
    cutoff = 1 / OVERSAMPLE  # of Nyquist
    m = np.arange(taps) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * m) * np.hamming(taps)
    h = h / h.sum() * OVERSAMPLE
    phases = h.reshape(_TAPS, OVERSAMPLE).T[:, ::-1]  # phase p holds h[p], h[p+4], ...
    return np.ascontiguousarray(phases[1:])


def running_min(x: np.ndarray, size: int) -> np.ndarray:
    """The minimum over a centred window of ``size`` (odd) frames, edges held: scipy.ndimage's
    ``minimum_filter1d(x, size, mode="nearest")``, in O(n) (van Herk / Gil-Werman)."""
    half = size // 2
    n = x.shape[0]
    padded = np.concatenate([np.full(half, x[0]), x, np.full(half + (-(n + 2 * half)) % size, x[-1])])
    blocks = padded.reshape(-1, size)
    forward = np.minimum.accumulate(blocks, axis=1).reshape(-1)
    backward = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    # the window [i, i + size) starts in one block and ends in the next
    return np.minimum(backward[:n], forward[size - 1 : size - 1 + n])


def running_mean(x: np.ndarray, size: int) -> np.ndarray:
    """The mean over ``size`` frames, as scipy.ndimage's ``uniform_filter1d(x, size, mode="nearest")``."""
    left = size // 2
    right = size - 1 - left
    padded = np.concatenate([np.full(left, x[0]), x, np.full(right, x[-1])]).astype(np.float64)
    sums = np.concatenate([[0.0], np.cumsum(padded)])
    return (sums[size:] - sums[:-size]) / size


def true_peaks(x: np.ndarray, threshold: float) -> np.ndarray:
    """Per frame of ``x`` (n, channels): the largest absolute value at it or between it and the next.

    Frames whose neighbourhood stays under ``threshold`` get their sample peak;
    around the others the in-between values are interpolated too.
    """
    frames = np.abs(x).max(axis=1).astype(np.float64)
    mask = frames > threshold
    if not mask.any():
        return frames
    mask[:-1] |= mask[1:]  # the gaps before and after each hot frame
    hot = np.flatnonzero(mask)
    half = _TAPS // 2
    padded = np.pad(x.astype(np.float64), ((half, half), (0, 0)))
    # windows[i] = x[hot[i] - half + 1 : hot[i] + half + 1]: the taps around the gap after hot[i].
    windows = padded[hot[:, None] + np.arange(1, _TAPS + 1)[None, :]]  # (H, taps, channels)
    between = np.abs(np.einsum("htc,pt->hpc", windows, _interpolator())).max(axis=(1, 2))
    frames[hot] = np.maximum(frames[hot], between)
    return frames


def limiter_gain(x: np.ndarray, ceiling: float, window: int) -> np.ndarray:
    """A smooth gain per frame that keeps ``x`` (n, channels) at or under ``ceiling`` (true peak).

    A minimum over 2W+1 frames then a mean over W never rises above what any
    frame needs, and turns the steps into ramps W frames long (no clicks).
    """
    need = np.minimum(1.0, ceiling / np.maximum(true_peaks(x, ceiling * HOT), 1e-12))
    held = running_min(need, 2 * window + 1)
    return running_mean(held, window).astype(np.float32)
