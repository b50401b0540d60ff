"""The numpy building blocks that stand in for scipy on the rendering path, against scipy itself.

Rendering and playing must not import scipy.signal or scipy.ndimage (over a
second and 70 MB); these are what replace them there, checked for equality.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin

from legsup_audio import dsp


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 44100 + 1946])
@pytest.mark.parametrize("size", [1, 3, 7, 441, 883])
def test_running_min_is_the_ndimage_minimum_filter(n: int, size: int) -> None:
    x = np.random.default_rng(n + size).random(n)
    assert np.array_equal(dsp.running_min(x, size), minimum_filter1d(x, size, mode="nearest"))


@pytest.mark.parametrize("n", [1, 5, 1000, 45000])
@pytest.mark.parametrize("size", [1, 2, 3, 10, 441])
def test_running_mean_is_the_ndimage_uniform_filter(n: int, size: int) -> None:
    x = np.random.default_rng(n * size).random(n)
    # A running sum's rounding (1e-16 of the total) is far below the float32 gains it makes.
    assert np.allclose(dsp.running_mean(x, size), uniform_filter1d(x, size, mode="nearest"), rtol=0, atol=1e-10)


def test_the_true_peak_interpolator_is_firwin() -> None:
    h = firwin(dsp.OVERSAMPLE * dsp._TAPS, 1 / dsp.OVERSAMPLE) * dsp.OVERSAMPLE
    phases = h.reshape(dsp._TAPS, dsp.OVERSAMPLE).T[:, ::-1][1:]
    assert np.allclose(dsp._interpolator(), phases, rtol=0, atol=1e-15)


def test_the_limiter_keeps_a_loud_sine_under_the_ceiling_without_steps() -> None:
    t = np.arange(44100) / 44100
    x = (1.5 * np.sin(2 * np.pi * 1000 * t) * np.minimum(1, t * 4))[:, None].astype(np.float32)
    gain = dsp.limiter_gain(x, 0.5, 441)
    y = x[:, 0] * gain
    assert float(dsp.true_peaks(y[:, None], 0.4).max()) <= 0.5 + 1e-6
    assert float(np.abs(np.diff(gain)).max()) < 0.01  # ramps, not jumps
