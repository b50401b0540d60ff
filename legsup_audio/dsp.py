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

# scipy.signal and pyloudnorm take over a second (and 74 MB of a 200 MB budget) to
# import; nothing here uses them, so that analysing, rendering and playing a session
# need numpy alone.  Tests check each stand-in against the library it replaces.

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
    """BS.1770's K-weighting for ``rate`` as two second-order sections (b0 b1 b2 a0 a1 a2, a0 = 1).

    pyloudnorm's filters: RBJ cookbook biquads, a +4 dB high shelf at 1500 Hz
    (Q 1/sqrt 2) and a high-pass at 38 Hz (Q 0.5).  Written out because importing
    pyloudnorm imports scipy.signal; ``tests/test_dsp.py`` checks them equal.
    """
    gain = 10 ** (4.0 / 40.0)
    w0 = 2.0 * np.pi * 1500.0 / rate
    cos, alpha = np.cos(w0), np.sin(w0) / (2.0 * (1 / np.sqrt(2)))
    shelf_b = gain * np.array([(gain + 1) + (gain - 1) * cos + 2 * np.sqrt(gain) * alpha,
                               -2 * ((gain - 1) + (gain + 1) * cos),
                               (gain + 1) + (gain - 1) * cos - 2 * np.sqrt(gain) * alpha])
    shelf_a = np.array([(gain + 1) - (gain - 1) * cos + 2 * np.sqrt(gain) * alpha,
                        2 * ((gain - 1) - (gain + 1) * cos),
                        (gain + 1) - (gain - 1) * cos - 2 * np.sqrt(gain) * alpha])
    w0 = 2.0 * np.pi * 38.0 / rate
    cos, alpha = np.cos(w0), np.sin(w0) / (2.0 * 0.5)
    pass_b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
    pass_a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return np.vstack([np.concatenate([b / a[0], a / a[0]]) for b, a in ((shelf_b, shelf_a), (pass_b, pass_a))])


def sos_response(sos: np.ndarray, freqs: np.ndarray, rate: int) -> np.ndarray:
    """The complex frequency response of ``sos`` at ``freqs`` (Hz): ``scipy.signal.sosfreqz``."""
    z = np.exp(-2j * np.pi * np.asarray(freqs, dtype=np.float64) / rate)  # z^-1 on the unit circle
    h = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in sos:
        h *= (b0 + z * (b1 + z * b2)) / (a0 + z * (a1 + z * a2))
    return h


_GEMM_LIMIT = 1 << 18  # OpenBLAS runs a product below this many multiply-adds on one thread


def serial_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in row slices small enough that BLAS does not spawn threads.

    On a 2-core machine a threaded product competes with ffmpeg, with the other
    process of a forked analysis and with its own spinning threads: measured,
    the analysis of an hour's bed took 7.7 s threaded against 3.0 s in slices.
    """
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    rows = max(1, _GEMM_LIMIT // max(1, a.shape[1] * b.shape[1]))
    for i in range(0, a.shape[0], rows):
        np.matmul(a[i : i + rows], b, out=out[i : i + rows])
    return out


#: Frames per block of the block filter: large enough that matrix products do the work,
#: small enough that they stay cheap (48 measured fastest, on par with scipy's sosfilt).
IIR_BLOCK = 48


class _BlockMatrices:
    """The matrices that run a cascade of biquads ``IIR_BLOCK`` frames at a time.

    The cascade is written as one state-space system (state s, four numbers for
    two sections, in the direct form II transposed that ``sosfilt``'s ``zi`` uses):
    a block's output is its zero-state response (a Toeplitz product) plus the
    free response of the state it starts from, and its end state is the start
    state carried through plus what the block put in.  The states from block to
    block are a linear recurrence with a fixed matrix, solved for all blocks at
    once by recursive doubling: the matrix's powers shrink fast, so a few rounds
    reach float precision.
    """

    def __init__(self, sos: np.ndarray, block: int = IIR_BLOCK) -> None:
        a, b, c, d = np.zeros((0, 0)), np.zeros(0), np.zeros(0), 1.0
        for b0, b1, b2, a0, a1, a2 in sos / sos[:, 3:4]:
            # one section: y = b0 x + s1; s1' = (b1 - a1 b0) x - a1 s1 + s2; s2' = (b2 - a2 b0) x - a2 s1
            sa = np.array([[-a1, 1.0], [-a2, 0.0]])
            sb = np.array([b1 - a1 * b0, b2 - a2 * b0])
            sc = np.array([1.0, 0.0])
            n = a.shape[0]
            joined = np.zeros((n + 2, n + 2))  # this section is fed by the cascade so far
            joined[:n, :n], joined[n:, :n], joined[n:, n:] = a, np.outer(sb, c), sa
            a, b, c, d = joined, np.concatenate([b, sb * d]), np.concatenate([b0 * c, sc]), b0 * d
        self.order = a.shape[0]
        self.block = block
        powers = [np.eye(self.order)]
        for _ in range(block):
            powers.append(a @ powers[-1])
        self.powers = powers  # A^0 .. A^block
        h = np.array([d] + [float(c @ powers[j] @ b) for j in range(block - 1)])  # impulse response
        lag = np.arange(block)[None, :] - np.arange(block)[:, None]
        self.toeplitz = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0)  # [i, j] = h[j - i]
        self.free = np.stack([c @ powers[j] for j in range(block)], axis=1)  # (order, block): state -> output
        self.fill = np.stack([powers[block - 1 - i] @ b for i in range(block)])  # (block, order): input -> end state
        self.doubling: list[tuple[int, np.ndarray]] = []
        carry, span = powers[block].T.copy(), 1
        while float(np.abs(carry).max()) > 1e-20 and len(self.doubling) < 48:  # 2^48 blocks: longer than any session
            self.doubling.append((span, carry))
            carry, span = carry @ carry, span * 2


@functools.lru_cache(maxsize=8)
def _block_matrices(rate: int) -> _BlockMatrices:
    return _BlockMatrices(k_weighting_sos(rate))


class BlockFilter:
    """A cascade of biquads over a stream of blocks, state carried: ``sosfilt`` in numpy.

    Equal to ``scipy.signal.sosfilt`` with carried ``zi`` (tested to 1e-9 of the
    signal; about 1e-11 measured), at the same speed.
    """

    def __init__(self, matrices: _BlockMatrices) -> None:
        self.m = matrices
        self.state = np.zeros(matrices.order)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered ``x`` (n,), float64."""
        m, size = self.m, self.m.block
        n = x.shape[0]
        whole = n // size
        out = np.empty(n)
        if whole:
            xs = x[: whole * size].reshape(whole, size)
            ends = np.empty((whole + 1, m.order))  # ends[k + 1]: the state after block k
            ends[0] = self.state
            ends[1:] = serial_matmul(xs, m.fill)
            for span, carry in m.doubling:
                if span > whole:
                    break
                ends[span:] += serial_matmul(ends[:-span], carry)
            out[: whole * size] = (serial_matmul(xs, m.toeplitz) + serial_matmul(ends[:-1], m.free)).reshape(-1)
            self.state = ends[-1].copy()
        if rest := n - whole * size:
            tail = x[whole * size :]
            out[whole * size :] = tail @ m.toeplitz[:rest, :rest] + self.state @ m.free[:, :rest]
            self.state = m.powers[rest] @ self.state + tail @ m.fill[size - rest :]
        return out


class KWeighting:
    """BS.1770's K-weighting, run block after block with its state carried.

    ``squares(x)`` gives the squared K-weighted frames of the next block, summed
    over its channels: what every loudness measurement here adds up.
    """

    def __init__(self, rate: int, channels: int) -> None:
        matrices = _block_matrices(rate)
        self.filters = [BlockFilter(matrices) for _ in range(channels)]

    def settled(self) -> bool:
        """The filters hold (next to) nothing: silence in gives silence out."""
        return all(float(np.abs(f.state).max()) < 1e-12 for f in self.filters)

    def squares(self, x: np.ndarray) -> np.ndarray:
        """(n,) for the next frames ``x``, float (n, channels)."""
        out = np.zeros(x.shape[0])
        for ch, kf in enumerate(self.filters):
            out += np.square(kf(x[:, ch].astype(np.float64)))
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


def k_weighted(x: np.ndarray, rate: int) -> np.ndarray:
    """The K-weighted samples of a mono signal (n,), starting from rest: float64 (n,)."""
    return BlockFilter(_block_matrices(rate))(x.astype(np.float64))


def loudness(x: np.ndarray, rate: int) -> float:
    """Integrated loudness of a whole (short) signal, float (n,) or (n, channels)."""
    meter = LoudnessMeter(rate, 1 if x.ndim == 1 else x.shape[1])
    meter.feed(x.reshape(x.shape[0], -1))
    return meter.integrated()


def kaiser_lowpass(taps: int, cutoff: float, beta: float, rate: float) -> np.ndarray:
    """A windowed-sinc low-pass, unit gain at DC: ``scipy.signal.firwin(taps, cutoff,
    window=("kaiser", beta), fs=rate)``, written out so a clip is resampled without scipy.signal."""
    band = cutoff / (rate / 2)
    m = np.arange(taps) - (taps - 1) / 2
    h = band * np.sinc(band * m) * np.kaiser(taps, beta)
    return h / h.sum()


def resample_poly(x: np.ndarray, up: int, down: int, window: np.ndarray) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down, window=window)`` for a mono float signal.

    The FIR runs as ``up`` convolutions of ``x`` with the filter's phases
    (``np.convolve``, faster here than scipy's ``upfirdn``), so it suits a small
    ``up`` (22 050 Hz to 44 100 Hz: 2); the outputs are aligned as scipy aligns them.
    """
    x = np.asarray(x, dtype=np.float64)
    if up == down == 1:
        return x.copy()
    h = np.asarray(window, dtype=np.float64) * up
    n_in = x.shape[0]
    n_out = -(-n_in * up // down)
    pre_pad = down - h.shape[0] // 2 % down
    pre_remove = (h.shape[0] // 2 + pre_pad) // down
    h = np.concatenate([np.zeros(pre_pad), h])
    # Output m is the filter's output at t = (m + pre_remove) * down of the up-sampled signal:
    # the input sample t // up under the filter phase t % up.
    if down == 1:  # each phase's outputs are every up-th one, from consecutive inputs: slices
        out = np.zeros(n_out)
        for p in range(up):
            first = (p - pre_remove) % up
            full = np.convolve(x, h[p::up])[(first + pre_remove) // up :]
            count = min(full.shape[0], len(range(first, n_out, up)))
            out[first : first + count * up : up] = full[:count]
        return out
    t = (np.arange(n_out, dtype=np.int64) + pre_remove) * down
    phase, at = t % up, t // up
    out = np.zeros(n_out)
    for p in range(up):
        chosen = phase == p
        full = np.convolve(x, h[p::up]) if n_in else np.zeros(0)
        index = at[chosen]
        inside = index < full.shape[0]  # past the convolution's end the output is zero
        out[np.flatnonzero(chosen)[inside]] = full[index[inside]]
    return out


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


def mono_true_peaks(x: np.ndarray) -> np.ndarray:
    """``true_peaks`` of a mono signal (n,) with every frame's neighbourhood interpolated.

    For a signal that will be measured at many gains (a clip being levelled): the
    peaks of ``g * x`` are ``g`` times these, whatever the threshold would have been.
    """
    x = x.astype(np.float64)
    frames = np.abs(x)
    half, n = _TAPS // 2, x.shape[0]
    padded = np.pad(x, (half, half))
    # The value between frame i and i + 1 at each phase: the taps padded[i + 1 .. i + _TAPS],
    # added one tap at a time (a window matrix would hold _TAPS copies of the clip).
    for phase in _interpolator():
        between = np.zeros(n)
        for t, weight in enumerate(phase):
            between += weight * padded[t + 1 : t + 1 + n]
        np.maximum(frames, np.abs(between), out=frames)
    return frames


def limiter_gain(x: np.ndarray, ceiling: float, window: int, hold: int = 0) -> np.ndarray:
    """A smooth gain per frame that keeps ``x`` (n, channels) at or under ``ceiling`` (true peak).

    A minimum over the 2W+1 frames around each frame (and, with ``hold``, the
    ``hold`` frames before it: the gain stays down that long after a peak) then a
    mean over W never rises above what any frame needs, and turns the steps into
    ramps W frames long (no clicks).
    """
    return held_gain(true_peaks(x, ceiling * HOT), ceiling, window, hold)


def held_gain(peaks: np.ndarray, ceiling: float, window: int, hold: int = 0) -> np.ndarray:
    """``limiter_gain`` from the frames' true peaks (``true_peaks``, ``mono_true_peaks``)."""
    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    over = need < 1.0
    gain = np.ones(need.shape[0], dtype=np.float32)
    if not over.any():
        return gain
    # A frame's gain moves only within 1.5 windows (and the hold) of a frame over the ceiling:
    # the filters run on those stretches alone (speech leaves most of a block untouched), each
    # with a margin of its true neighbours, so the result is what filtering the whole block gives.
    reach = 2 * window + 2 + hold
    n = need.shape[0]
    for first, end in runs(over, gap=2 * reach):  # stretches whose margins would overlap are one
        a, b = max(0, first - reach), min(n, end + reach)
        lo, hi = max(0, a - reach), min(n, b + reach)
        held = running_min(need[lo:hi], 2 * window + 1)
        if hold:
            held = _trailing_min(held, hold)
        gain[a:b] = running_mean(held, window)[a - lo : b - lo]
    return gain


def _trailing_min(x: np.ndarray, size: int) -> np.ndarray:
    """At each frame, the minimum of it and the ``size`` (rounded to even) frames before it."""
    k = max(1, size // 2)
    padded = np.concatenate([np.full(2 * k, x[0]), x])
    return running_min(padded, 2 * k + 1)[k : k + x.shape[0]]


def runs(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in ``mask``, runs fewer than ``gap`` apart joined."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    found: list[tuple[int, int]] = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if found and a - found[-1][1] < gap:
            found[-1] = (found[-1][0], b)
        else:
            found.append((a, b))
    return found
