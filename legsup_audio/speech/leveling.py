"""Levelling one clip: the gain that puts it at a loudness once the clip limiter has held its peaks.

Owns the search for that gain, for the speak stage's chain (``speaker.voice``).
Limiting a clip's loudest syllables lowers its loudness, so the gain that makes
up for it is found by trying gains.  A try is cheap because K-weighting is
linear and time-invariant: the clip's K-weighted samples are filtered once, and
a try adds only the K-weighted change the limiter makes, filtered over the
stretches where it acts plus the filter's ring-out; the clip's true peaks are
found once too, since they scale with the gain.  Gains are searched by the
secant method on the loudness error in dB.  It knows nothing of engines, texts
or caches, and changes nothing but the gain and the limiter's held gain.
"""

from __future__ import annotations

import numpy as np

from legsup_audio.dsp import held_gain, integrated, k_weighted, mono_true_peaks, runs

#: The K-weighting's slowest part (the 38 Hz high-pass, a double pole) has decayed past
#: 1e-20 after this long, so a limited stretch's effect is filtered that far and no further.
RING_OUT_S = 0.25
#: A clip is levelled when its loudness is this close to the target (LU).
TOLERANCE_LU = 0.05
#: At most this many gains are tried; the closest is kept.  The bundled voice's clips take
#: 2-5 (3.5 on average); gating can make the loudness dip as the gain grows, which takes more.
TRIES = 8
#: The most gain the limiter's losses are made up with.  A clip whose peaks are too dense
#: for the ceiling would otherwise have its quiet parts raised without end (the limiter
#: then takes all of any further gain from the rest); it stays a little quieter instead.
MAX_MAKEUP_DB = 18.0
#: The first make-up step assumes the loudness grows this much per dB of gain (measured on
#: the bundled voice: 0.3-0.5 where the limiter bites), and until a gain is found too loud
#: each step goes STEP_BEYOND times as far as the secant says: loudness grows ever more
#: slowly with the gain, so the secant alone falls short of the target, try after try.
FIRST_SLOPE = 0.35
STEP_BEYOND = 1.3


def squares_loudness(squares: np.ndarray, rate: int) -> float:
    """Loudness of a clip from its squared K-weighted samples: gated as BS.1770, ungated under 0.4 s."""
    step = rate // 10
    whole = squares.shape[0] // step * step
    if whole >= 4 * step:
        gated = integrated(squares[:whole].reshape(-1, step).sum(axis=1), step)
        if np.isfinite(gated):
            return gated
    power = float(np.mean(squares)) if squares.size else 0.0
    return -0.691 + 10 * np.log10(power) if power > 0 else float("-inf")


class _Clip:
    """A clip measured once, then limited and measured at any gain."""

    def __init__(self, x: np.ndarray, rate: int, ceiling: float, window: int, hold: int) -> None:
        self.x, self.rate = x, rate
        self.ceiling, self.window, self.hold = ceiling, window, hold
        self.weighted = k_weighted(x, rate)
        self.peaks = mono_true_peaks(x)
        self.ring = max(1, int(rate * RING_OUT_S))

    def unlimited_loudness(self) -> float:
        return squares_loudness(np.square(self.weighted), self.rate)

    def at(self, gain_db: float) -> tuple[np.ndarray, float]:
        """The clip at ``gain_db``, limited, and its loudness."""
        gain = 10 ** (gain_db / 20)
        held = held_gain(gain * self.peaks, self.ceiling, self.window, self.hold)
        y = self.x * gain * held
        weighted = self.weighted.copy()
        n = self.x.shape[0]
        for first, end in runs(held < 1.0, gap=self.ring):
            stop = min(n, end + self.ring)
            weighted[first:stop] += k_weighted(self.x[first:stop] * (held[first:stop] - 1.0), self.rate)
        weighted *= gain
        return y, squares_loudness(np.square(weighted), self.rate)


def level(x: np.ndarray, rate: int, target: float, ceiling: float, window: int, hold: int) -> np.ndarray:
    """``x`` (float, mono) at the one gain that leaves it at ``target`` LUFS once limited to ``ceiling``.

    The limiter (``dsp.held_gain``: ``window`` frames of ramp, ``hold`` frames of
    hold) acts only where the gained clip's true peak would pass ``ceiling``.  A
    silent clip is returned limited at unity gain.
    """
    clip = _Clip(x, rate, ceiling, window, hold)
    loudness = clip.unlimited_loudness()
    if not np.isfinite(loudness):
        return clip.at(0.0)[0]
    low = target - loudness  # dB; limiting only lowers the loudness, so the gain sought is above this
    top = low + MAX_MAKEUP_DB
    y, measured = clip.at(low)
    low_miss = measured - target
    best, best_miss = y, abs(low_miss)
    if low_miss >= 0:
        return best  # the limiter took nothing that counts
    high: tuple[float, float] | None = None  # a gain found too loud, and by how much
    gain = min(top, low - low_miss / FIRST_SLOPE)
    for _ in range(TRIES - 1):
        if best_miss < TOLERANCE_LU:
            break
        y, measured = clip.at(gain)
        miss = measured - target
        if abs(miss) < best_miss:
            best, best_miss = y, abs(miss)
        if miss >= 0:
            high = (gain, miss)
        elif gain >= top:
            break  # even the most make-up allowed leaves it too quiet
        else:
            slope = min(1.0, max(0.05, (miss - low_miss) / (gain - low)))
            low, low_miss = gain, miss
        if high is None:  # below the target so far: the secant, stretched
            gain = min(top, low - low_miss / slope * STEP_BEYOND)
        else:  # the target is between low and high: the secant of the two, kept off their ends
            part = -low_miss / (high[1] - low_miss)
            gain = low + (high[0] - low) * min(0.9, max(0.1, part))
    return best
