"""The numpy building blocks that stand in for scipy and pyloudnorm, against those libraries.

Analysing, rendering and playing must not import scipy.signal, scipy.ndimage or
pyloudnorm (over a second and 74 MB); these are what replace them there, checked
for equality, and a session with a bed is analysed and rendered to check that
none of them is imported.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import minimum_filter1d, uniform_filter1d
import pyloudnorm
from scipy.signal import firwin, resample_poly, sosfilt, sosfreqz

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


def _whole_block_limiter_gain(x: np.ndarray, ceiling: float, window: int) -> np.ndarray:
    """The limiter's gain with its filters run over every frame (what ``limiter_gain`` must equal)."""
    need = np.minimum(1.0, ceiling / np.maximum(dsp.true_peaks(x, ceiling * dsp.HOT), 1e-12))
    held = minimum_filter1d(need, 2 * window + 1, mode="nearest")
    return uniform_filter1d(held, window, mode="nearest").astype(np.float32)


@pytest.mark.parametrize("seed", range(40))
def test_the_limiter_filtering_only_near_its_peaks_equals_filtering_everything(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30000))
    x = (rng.standard_normal((n, int(rng.integers(1, 3)))) * rng.choice([0.05, 0.2, 0.5])).astype(np.float32)
    spikes = rng.integers(0, n, size=int(rng.integers(0, 8)))  # isolated peaks, near each other or not, or at an edge
    x[spikes] *= rng.uniform(2, 30, size=(spikes.size, 1)).astype(np.float32)
    window = int(rng.choice([1, 2, 5, 441]))
    got = dsp.limiter_gain(x, 0.7, window)
    assert np.allclose(got, _whole_block_limiter_gain(x, 0.7, window), rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_true_peaks_of_every_frame_are_the_thresholded_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(rng.integers(1, 5000))) * rng.choice([0.01, 0.3])
    x[rng.integers(0, x.shape[0], size=3)] *= 20  # a few hot frames, between-sample peaks around them
    every = dsp.mono_true_peaks(x)
    assert np.allclose(every, dsp.true_peaks(x[:, None], 0.0), rtol=0, atol=1e-12)
    hot = dsp.true_peaks(x[:, None], 0.5)  # only near hot frames interpolated; the rest their sample peak
    assert np.all(every >= hot - 1e-12)
    near = np.abs(x) > 0.5  # frames over the threshold and the ones just before them are interpolated there
    near[:-1] |= near[1:]
    assert np.allclose(every[near], hot[near], rtol=0, atol=1e-12)


def test_the_resampling_filter_is_firwin() -> None:
    for taps, cutoff, rate in ((241, 0.49 * 22050, 44100), (52921, 0.49 * 16000, 16000 * 441), (121, 1000.0, 8000)):
        expected = firwin(taps, cutoff, window=("kaiser", 9.0), fs=rate)
        assert np.allclose(dsp.kaiser_lowpass(taps, cutoff, 9.0, rate), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("up", "down"), [(2, 1), (1, 2), (3, 2), (4, 1), (2, 3), (8, 7), (1, 1)])
@pytest.mark.parametrize("n", [1, 2, 37, 22050 * 3 + 11])
def test_the_numpy_resampler_is_resample_polys(up: int, down: int, n: int) -> None:
    x = np.random.default_rng(n * up + down).standard_normal(n)
    h = firwin(120 * max(up, down) + 1, 0.49 / max(up, down), window=("kaiser", 9.0))
    expected = resample_poly(x, up, down, window=h)
    got = dsp.resample_poly(x, up, down, h)
    assert got.shape == expected.shape
    assert np.allclose(got, expected, rtol=0, atol=1e-12)


def _pyloudnorm_sos(rate: int) -> np.ndarray:
    meter = pyloudnorm.Meter(rate)  # filter_class "K-weighting"
    sections = []
    for stage in meter._filters.values():
        b = np.asarray(stage.b, dtype=np.float64) * stage.passband_gain
        a = np.asarray(stage.a, dtype=np.float64)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return np.vstack(sections)


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000, 96000])
def test_the_k_weighting_filters_are_pyloudnorms(rate: int) -> None:
    assert np.allclose(dsp.k_weighting_sos(rate), _pyloudnorm_sos(rate), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("channels", [1, 2])
def test_the_streaming_meter_measures_what_pyloudnorm_measures(channels: int) -> None:
    rng = np.random.default_rng(channels)
    t = np.arange(44100 * 20) / 44100
    # a swelling tone with bursts of noise: the relative gate leaves some blocks out
    x = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.3 * t)) + 0.02 * rng.standard_normal(t.size) * (t % 5 < 2)
    signal = np.stack([x, 0.5 * x], axis=1)[:, :channels]
    meter = dsp.LoudnessMeter(44100, channels)
    for start in range(0, t.size, 10000):  # in blocks that do not line up with the 100 ms steps
        meter.feed(signal[start : start + 10000])
    assert abs(meter.integrated() - pyloudnorm.Meter(44100).integrated_loudness(signal)) < 1e-6


def test_the_frequency_response_is_sosfreqz() -> None:
    sos = dsp.k_weighting_sos(44100)
    freqs = np.geomspace(10, 22000, 300)
    _, expected = sosfreqz(sos, worN=freqs, fs=44100)
    assert np.allclose(dsp.sos_response(sos, freqs, 44100), expected, rtol=1e-12, atol=1e-12)
    # and it is K-weighting: nothing at DC, about -1.2 dB at 100 Hz, +4 dB at the top
    gains = 20 * np.log10(np.abs(dsp.sos_response(sos, np.array([0.001, 100.0, 10000.0]), 44100)))
    assert gains[0] < -100 and -1.5 < gains[1] < -0.9 and 3.5 < gains[2] < 4.5


@pytest.mark.parametrize("sizes", [[44100] * 3, [1, 47, 48, 49, 96, 1000, 7], [5000, 1, 1, 1, 131072], [3]])
@pytest.mark.parametrize("scale", [1.0, 1e-4])
def test_the_block_filter_is_sosfilt_with_carried_state(sizes: list[int], scale: float) -> None:
    """However the signal is cut into blocks, the filter continues where the last one stopped."""
    n = sum(sizes)
    x = np.random.default_rng(n).standard_normal((n, 2)) * scale
    x[n // 3 :, 1] = 0.0  # and a channel that falls silent: its state must ring out as sosfilt's does
    weighting = dsp.KWeighting(44100, 2)
    pieces, at = [], 0
    for size in sizes:
        pieces.append(weighting.squares(x[at : at + size]))
        at += size
    expected = np.square(sosfilt(dsp.k_weighting_sos(44100), x, axis=0)).sum(axis=1)
    got = np.concatenate(pieces)
    assert np.allclose(got, expected, rtol=1e-8, atol=1e-9 * scale * scale)


def test_a_long_block_keeps_its_precision() -> None:
    """Ten minutes in one call: the block states are found by doubling, whose error must not grow."""
    x = np.sin(np.arange(44100 * 600) * 2 * np.pi * 40 / 44100)  # a low tone: the slow poles matter most
    matrices = dsp._block_matrices(44100)
    got = dsp.BlockFilter(matrices)(x)
    expected = sosfilt(dsp.k_weighting_sos(44100), x)
    assert float(np.abs(got - expected).max()) < 1e-9


def test_rendering_a_bed_imports_neither_scipy_signal_nor_pyloudnorm(tmp_path) -> None:  # noqa: ANN001
    """Mastering and rendering a session with a bed cost numpy alone (scipy.signal: 1.1 s and 74 MB more)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "bed.yaml"
    script.write_text(
        "title: Imports\nbackground:\n  drone: {note: A2, level: -30dB}\n  noise: {color: pink, level: -36dB}\n"
        "  bells: {at: steps, level: -20dB}\nsteps:\n  - title: One\n    duration: 20s\n    cues:\n"
        "      - at: 1s\n        say: A first cue.\n  - title: Two\n    duration: 20s\n    cues:\n"
        "      - at: 2s\n        say: A second cue, a little longer than the first one.\n",
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from legsup_audio import pipeline\n"
        "from legsup_audio.render import master\n"
        "from legsup_audio.speech.fake import FakeEngine\n"
        "session = pipeline.build(sys.argv[1], engine=FakeEngine())\n"
        "mastered, _ = master.master(pipeline.mix(session))\n"
        "for start in range(0, mastered.total, 44100):\n"
        "    mastered.read(start, 44100)\n"
        "print(sorted(m for m in ('scipy.signal', 'scipy.ndimage', 'pyloudnorm') if m in sys.modules))\n"
    )
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    # The first run fills the clip cache (speaking may resample); the second only renders.
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code, str(script)], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
