"""Level profiles: a layer's loudness and peaks over time, known without rendering it.

The master needs, for every 100 ms step of a session, the K-weighted energy of
the mix (BS.1770 integrated loudness is made of nothing else) and a bound on its
true peak (to know where a gain would need the limiter).  Rendering the whole
session to find them costs as much as the export itself, and on ``legsup play``
it is time the listener waits in silence.  So each layer describes itself:

- the voice from its clips' stored per-millisecond energies and their samples;
- guide tones and the bed's tone layers in closed form or from their one period;
- noise from its (stationary) power, measured once on a stretch of it;
- bells from one strike's energy, placed at each strike.

This module owns those building blocks and the ``Profile`` they make; layers
that cannot describe themselves are rendered and measured (``measure_layer``).
Independent layers' energies add (their cross terms average out), and their
peak bounds add.  A bound is used only to find the steps that may need limiting,
which the master then renders and measures for real.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from legsup_audio.dsp import HOT, KWeighting, k_weighting_sos, sos_response, true_peaks

#: Gains (fades, ducking, crossfades) are sampled this many times per step: they
#: move over hundreds of milliseconds, so 5 ms spacing follows them closely.
GAIN_POINTS = 20
#: Noise peaks grow slowly with length (Gaussian tails); a peak seen over the
#: measured stretch is raised by this factor to bound an hour of it.
NOISE_PEAK_MARGIN = 1.3
#: How much of a stationary layer is rendered to measure its power and peak.
CALIBRATION_SECONDS = 20
#: A true peak exceeds the sample peak of low, smooth tones by well under this.
TONE_TRUE_PEAK = 1.02


@dataclass(frozen=True, slots=True)
class Profile:
    """Per step: K-weighted energy (sum of squares, channels summed) and a true-peak bound."""

    energies: np.ndarray  # (count,) float64
    peaks: np.ndarray  # (count,) float64, linear

    @staticmethod
    def zeros(count: int) -> Profile:
        return Profile(np.zeros(count), np.zeros(count))

    def __add__(self, other: Profile) -> Profile:
        return Profile(self.energies + other.energies, self.peaks + other.peaks)

    def spread(self, times: int) -> Profile:
        """The same layer played on ``times`` channels (a mono layer in a stereo mix)."""
        return Profile(self.energies * times, self.peaks)


def k_step_energies(blocks, rate: int, channels: int, step: int, skip: int = 0) -> np.ndarray:  # noqa: ANN001
    """K-weighted energy per ``step`` frames (channels summed) of a signal given in blocks.

    ``blocks`` yields float arrays (n, channels), each a whole number of steps; the
    filters run across them from rest, and the first ``skip`` frames (their
    settling) are left out.  One block at a time is held, never the whole signal.
    """
    weighting = KWeighting(rate, channels)
    out, seen = [], 0
    for x in blocks:
        squares = weighting.squares(x)
        keep = squares[max(0, skip - seen) :]
        seen += x.shape[0]
        if keep.shape[0]:
            out.append(keep.reshape(-1, step).sum(axis=1))
    return np.concatenate(out) if out else np.zeros(0)


@dataclass(frozen=True, slots=True)
class Periodic:
    """A layer that repeats one table exactly, its period a whole number of steps."""

    step_energy: np.ndarray  # (period // step,)
    step_peak: np.ndarray

    @staticmethod
    def of(table: np.ndarray, rate: int, step: int) -> Periodic | None:
        if table.shape[0] % step or rate % step:
            return None
        steps = table.shape[0] // step

        def blocks():  # noqa: ANN202 - one second of the signal's own past settles the filters
            yield table[-rate:]
            for start in range(0, table.shape[0], rate):
                yield table[start : start + rate]

        energy = k_step_energies(blocks(), rate, table.shape[1], step, skip=rate)
        peak = np.abs(table).reshape(steps, -1).max(axis=1) * TONE_TRUE_PEAK
        return Periodic(energy, peak)

    def at(self, step: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Energy and peak bound of steps 0..count-1 (``step`` is the one it was made for)."""
        k = np.arange(count) % self.step_energy.shape[0]
        return self.step_energy[k], self.step_peak[k]


@dataclass(frozen=True, slots=True)
class Stationary:
    """A layer whose power does not change with time (noise): energy per frame and a peak bound."""

    energy_per_frame: float
    peak: float

    @staticmethod
    def measure(render: Callable[[int, int], np.ndarray], rate: int, channels: int) -> Stationary:
        skip = rate // 2  # the filters' start from rest
        peak = 0.0

        def blocks():  # noqa: ANN202
            nonlocal peak
            for start in range(0, CALIBRATION_SECONDS * rate, rate):
                x = render(start, rate)
                # white noise peaks well between its samples: the bound is on true peaks
                peak = max(peak, float(true_peaks(x, 0.7 * max(peak, float(np.abs(x).max()))).max()))
                yield x

        energy = k_step_energies(blocks(), rate, channels, skip, skip=skip)
        per_frame = float(energy.sum()) / (CALIBRATION_SECONDS * rate - skip)
        return Stationary(per_frame, peak * NOISE_PEAK_MARGIN)

    def at(self, step: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full(count, self.energy_per_frame * step), np.full(count, self.peak)


class Strike:
    """One event's sound (a bell strike): where its energy and peaks fall on the step grid."""

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        mono = samples.reshape(samples.shape[0], -1)[:, 0]
        self.length = mono.shape[0]
        # Running sum of the K-weighted squares, built a second at a time to keep memory flat.
        self._cumulative = np.zeros(self.length + 1)
        weighting = KWeighting(rate, 1)
        total = 0.0
        for start in range(0, self.length, rate):
            run = np.cumsum(weighting.squares(mono[start : start + rate, None])) + total
            self._cumulative[start + 1 : start + 1 + run.shape[0]] = run
            total = float(run[-1])
        self._abs = np.abs(mono)

    def add(self, at: int, amp: float, step: int, energies: np.ndarray, peaks: np.ndarray) -> None:
        """Add one strike of amplitude ``amp`` starting at frame ``at`` into the per-step arrays."""
        count = energies.shape[0]
        k0, k1 = at // step, min(count, -(-(at + self.length) // step))
        if k0 >= k1:
            return
        edges = np.clip(np.arange(k0, k1 + 1) * step - at, 0, self.length)
        energies[k0:k1] += amp * amp * np.diff(self._cumulative[edges])
        starts = edges[:-1]
        keep = starts < edges[1:]
        if keep.any():
            maxima = np.maximum.reduceat(self._abs, starts[keep])
            # reduceat runs each segment to the next start; the last one to the strike's end
            peaks[k0:k1][keep] += amp * maxima * TONE_TRUE_PEAK


def step_frames(step: int, count: int) -> np.ndarray:
    """(count, GAIN_POINTS + 2) frames, in order: each step's first frame, ``GAIN_POINTS``
    evenly inside it, and its last frame.

    A layer's gain is sampled there: the inner points give its mean square, all
    of them its maximum (a ramp within a step peaks at one of its ends).
    """
    inner = (np.arange(GAIN_POINTS) * step + step // 2) // GAIN_POINTS
    offsets = np.concatenate([[0], inner, [step - 1]])
    return np.arange(count, dtype=np.int64)[:, None] * step + offsets[None, :]


def gain_grid(step: int, count: int) -> np.ndarray:
    """``step_frames`` flattened (already sorted), for layers whose gain functions take sorted frames."""
    return step_frames(step, count).reshape(-1)


def per_step(gain: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean square (inner points) and maximum (all points) per step of a gain sampled on ``gain_grid``."""
    g = np.abs(gain).reshape(count, GAIN_POINTS + 2)
    return np.square(g[:, 1:-1]).mean(axis=1), g.max(axis=1)


def measure_layer(layer, rate: int, total: int, step: int, channels: int, block: int) -> Profile:  # noqa: ANN001
    """Render ``layer`` (any render Layer) and measure its profile: the fallback.

    ``block`` is a whole number of steps, so every block but the last starts a step.
    """
    from legsup_audio.dsp import LoudnessMeter

    count = total // step
    meter = LoudnessMeter(rate, channels)
    peaks = np.zeros(-(-total // step))
    running = 1e-6
    edge = 64  # context either side, so between-sample peaks at a block's edge are seen as in one pass
    for start in range(0, total, block):
        n = min(block, total - start)
        a, b = max(0, start - edge), min(total, start + n + edge)
        wide = layer.render(a, b - a)
        if wide.shape[1] != channels:
            wide = np.repeat(wide, channels, axis=1)
        chunk = wide[start - a : start - a + n]
        meter.feed(chunk)
        tp = true_peaks(wide, running * HOT)[start - a : start - a + n]  # oversampled only near the loudest so far
        running = max(running, float(tp.max(initial=0.0)))
        first = start // step
        peaks[first : first + -(-n // step)] = np.maximum.reduceat(tp, np.arange(0, n, step))
    energies = np.zeros(count)
    measured = meter.energies()[:count]
    energies[: measured.shape[0]] = measured
    return Profile(energies, peaks[:count])


@functools.lru_cache(maxsize=8)
def _k_gain_table(rate: int) -> tuple[np.ndarray, np.ndarray]:
    """|K(f)|^2 sampled finely from 20 Hz to Nyquist, for tones of known frequency."""
    freqs = np.geomspace(20.0, rate / 2 * 0.999, 2048)
    return freqs, np.abs(sos_response(k_weighting_sos(rate), freqs, rate)) ** 2


def k_power_gain(freq: np.ndarray, rate: int) -> np.ndarray:
    """The K-weighting's power gain at each frequency in ``freq`` (Hz)."""
    freqs, gains = _k_gain_table(rate)
    return np.interp(freq, freqs, gains)
