"""Background-bed layers, checked by measurable properties of the sound.

Pitch by spectral peak, levels by RMS (bells: peak), noise colour by the slope of a
Welch PSD, pulse rate by the spectrum of the envelope, clicks by sample-to-sample
jumps, and random access by comparing one long render with shuffled sub-blocks.
"""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from legsup_audio.render.bed import (
    Bells,
    Binaural,
    Drone,
    Isochronic,
    Layer,
    Music,
    Noise,
    note_to_hz,
)
from legsup_audio.render.bed import generators as gen

RATE = 44100
HOUR4 = 4 * 3600 * RATE + 12345  # an awkward sample index four hours in


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))


def peak_hz(x: np.ndarray, rate: int = RATE, lo: float = 1.0, hi: float | None = None) -> float:
    """Frequency of the strongest spectral peak in [lo, hi], Hann window + parabola."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = (freqs >= lo) & (freqs <= (hi if hi is not None else rate / 2))
    k = int(np.flatnonzero(band)[np.argmax(spectrum[band])])
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-30)
    return float((k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(x))


def slope_db_per_octave(x: np.ndarray, lo: float = 100.0, hi: float = 8000.0) -> float:
    """Least-squares slope of a Welch PSD in dB against log2(f), octaves weighted equally."""
    freqs, psd = signal.welch(x, fs=RATE, nperseg=8192)
    grid = np.geomspace(lo, hi, 60)
    level = np.interp(np.log2(grid), np.log2(freqs[1:]), 10 * np.log10(psd[1:]))
    return float(np.polyfit(np.log2(grid), level, 1)[0])


def render_in_pieces(layer: Layer, start: int, n: int, seed: int) -> np.ndarray:
    """``[start, start+n)`` assembled from random sub-blocks rendered in shuffled order."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, n), size=12, replace=False))
    edges = [0, *cuts.tolist(), n]
    pieces = list(itertools.pairwise(edges))
    out = np.full((n, layer.channels), np.nan, dtype=np.float32)
    for i in rng.permutation(len(pieces)):
        a, b = pieces[i]
        out[a:b] = layer.render(start + a, b - a)
    return out


# --- notes -----------------------------------------------------------------------------


def test_note_names() -> None:
    assert note_to_hz("A2") == 110.0
    assert note_to_hz("A4") == 440.0
    assert note_to_hz("C4") == pytest.approx(261.6256, abs=1e-3)
    assert note_to_hz("C#3") == pytest.approx(138.5913, abs=1e-3)
    assert note_to_hz("C#3") == note_to_hz("Db3")
    assert note_to_hz("Bb2") == note_to_hz("A#2") == pytest.approx(116.5409, abs=1e-3)
    assert note_to_hz("a2") == 110.0


@pytest.mark.parametrize("bad", ["H2", "A", "", "C#", "A2x", "Cb#3", "440", "G10"])
def test_bad_note_names_raise(bad: str) -> None:
    with pytest.raises(ValueError, match="note"):
        note_to_hz(bad)


# --- tones -----------------------------------------------------------------------------


@pytest.mark.parametrize("freq", [110.0, note_to_hz("C#3"), 55.0])
def test_drone_pitch_now_and_at_hour_four(freq: float) -> None:
    drone = Drone(RATE, freq, -30)
    for start in (0, HOUR4):
        x = drone.render(start, 30 * RATE)[:, 0]
        assert abs(peak_hz(x, lo=20) - freq) < 0.1


def test_drone_drifts_slowly_but_not_much() -> None:
    x = Drone(RATE, 110, -30).render(0, 30 * RATE)[:, 0]
    windows = x[: 60 * (RATE // 2)].reshape(60, RATE // 2)
    levels = 20 * np.log10(np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=1)))
    assert 0.5 < levels.max() - levels.min() < 4.0  # alive, not a test tone; no pumping


def test_binaural_left_right_and_beat() -> None:
    x = Binaural(RATE, 200, 6, -32).render(RATE, 20 * RATE)
    left, right = peak_hz(x[:, 0]), peak_hz(x[:, 1])
    assert abs(left - 200) < 0.1
    assert abs(right - 206) < 0.1
    assert abs((right - left) - 6) < 0.1


def test_isochronic_pulse_rate_and_no_clicks() -> None:
    x = Isochronic(RATE, 180, 8, -34).render(5 * RATE, 20 * RATE)[:, 0].astype(np.float64)
    assert abs(peak_hz(x**2, lo=0.5, hi=50) - 8) < 0.1  # the envelope's rate
    assert abs(peak_hz(x, lo=20) - 180) < 0.5
    gate = np.abs(signal.hilbert(x))
    assert gate.min() < 0.01 * gate.max()  # it really switches off
    # a hard switch would jump by up to the full amplitude; a smooth gate never
    # moves faster than the tone itself does at full level
    assert np.abs(np.diff(x)).max() <= 1.1 * np.abs(x).max() * 2 * np.pi * 180 / RATE


# --- noise -----------------------------------------------------------------------------

SLOPE_TOLERANCE = 0.5  # dB per octave (the brief allows 1)


@pytest.mark.parametrize(("color", "slope"), [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_noise_colour_slope(color: str, slope: float) -> None:
    x = Noise(RATE, color, -36, seed=3).render(0, 20 * RATE)[:, 0]  # type: ignore[arg-type]
    assert abs(slope_db_per_octave(x) - slope) < SLOPE_TOLERANCE


def test_noise_stereo_channels_are_independent() -> None:
    x = Noise(RATE, "pink", -36, stereo=True).render(0, 10 * RATE)
    assert x.shape == (10 * RATE, 2)
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < 0.05
    assert abs(rms_db(x) + 36) < 0.5


def test_noise_seed_chooses_the_noise() -> None:
    a = Noise(RATE, "pink", -36, seed=1).render(0, RATE)
    assert np.array_equal(a, Noise(RATE, "pink", -36, seed=1).render(0, RATE))
    assert not np.allclose(a, Noise(RATE, "pink", -36, seed=2).render(0, RATE))


@pytest.mark.parametrize("color", ["pink", "brown"])
def test_noise_chunks_join_without_seams(color: str) -> None:
    """Chunked colouring equals one continuous filter over the same white noise."""
    noise = Noise(RATE, color, -30, seed=5)  # type: ignore[arg-type]
    chunks = 4
    white = np.concatenate([noise._white(k) for k in range(-1, chunks)], axis=1)[0].astype(np.float64)
    bank = noise._bank  # the colouring filter, scaled to the level
    reference = bank.direct * white  # one continuous filter, from the partial fractions
    for r, p in zip(bank.residues, bank.poles):
        reference = reference + r * signal.lfilter([1.0], [1.0, -p], white)
    reference = reference[gen.NOISE_CHUNK :]  # drop the warm-up chunk (index -1)
    got = noise.render(0, chunks * gen.NOISE_CHUNK)[:, 0]
    assert np.abs(got - reference).max() < 1e-5 * np.abs(reference).max()
    # and the plain seam criterion: no jump at a seam beyond the largest elsewhere
    jumps = np.abs(np.diff(got))
    seams = [k * gen.NOISE_CHUNK - 1 for k in range(1, chunks)]
    assert jumps[seams].max() <= np.delete(jumps, seams).max()


def test_one_pole_bank_matches_lfilter() -> None:
    b, a = gen._PINK_B, gen._PINK_A
    bank = gen.OnePoleBank.from_tf(b, a)
    x = np.random.default_rng(0).standard_normal((2, 16 * 1000)).astype(np.float32)
    expected = signal.lfilter(b, a, x.astype(np.float64), axis=1)
    assert np.abs(bank.apply(x) - expected).max() < 1e-6
    impulse = np.zeros(1 << 16)
    impulse[0] = 1
    assert bank.power_gain() == pytest.approx(np.sum(signal.lfilter(b, a, impulse) ** 2), rel=1e-9)


# --- levels -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        Drone(RATE, 110, -30),
        Drone(RATE, 440, -12),
        Binaural(RATE, 200, 6, -32),
        Isochronic(RATE, 180, 8, -34),
        Noise(RATE, "white", -36),
        Noise(RATE, "pink", -36),
        Noise(RATE, "brown", -36),
        Noise(RATE, "brown", -20, seed=9),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layer_rms_is_its_level(layer: Layer) -> None:
    x = layer.render(7 * RATE, 30 * RATE)
    assert x.dtype == np.float32 and x.shape == (30 * RATE, layer.channels)
    assert abs(rms_db(x) - layer.level_db) < 0.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Drone(RATE, 110, 1),
        lambda: Noise(RATE, "pink", float("nan")),
        lambda: Noise(RATE, "grey", -30),  # type: ignore[arg-type]
        lambda: Noise(RATE, "pink", -30, seed=-1),
        lambda: Drone(RATE, 0, -30),
        lambda: Binaural(RATE, 200, -300, -30),
        lambda: Isochronic(RATE, 180, 0, -30),
        lambda: Bells(RATE, [-5], -12),
    ],
)
def test_bad_parameters_raise_value_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


# --- random access -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "tolerance"),
    [
        (Drone(RATE, note_to_hz("Bb2"), -30), 1e-6),
        (Binaural(RATE, 200, 6, -32), 1e-6),
        (Isochronic(RATE, 180, 8, -34), 1e-6),
        (Noise(RATE, "white", -36, seed=4), 1e-5),
        (Noise(RATE, "pink", -36, seed=4), 1e-5),
        (Noise(RATE, "brown", -36, seed=4, stereo=True), 1e-5),
        (Bells(RATE, [100, 2000, 2500, 4000], -12), 1e-6),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, float) else "",
)
@pytest.mark.parametrize("start", [0, 3 * gen.NOISE_CHUNK - 5000, HOUR4])
def test_render_is_block_invariant(layer: Layer, tolerance: float, start: int) -> None:
    n = 3 * RATE
    whole = layer.render(start, n)
    pieces = render_in_pieces(layer, start, n, seed=start % 1000)
    assert not np.isnan(pieces).any()
    assert np.abs(whole - pieces).max() <= tolerance
    assert layer.render(start, 0).shape == (0, layer.channels)


def test_negative_block_raises() -> None:
    with pytest.raises(ValueError):
        Drone(RATE, 110, -30).render(-1, 10)


# --- bells --------------------------------------------------------------------------------


def test_bells_strike_at_their_times_and_decay() -> None:
    strikes_ms = [500, 30000]
    x = Bells(RATE, strikes_ms, -12).render(0, 41 * RATE)[:, 0]
    assert abs(20 * np.log10(np.abs(x).max()) + 12) < 0.5
    assert not x[: RATE // 2].any()  # silent before the first strike
    threshold = 0.01 * np.abs(x).max()
    for ms in strikes_ms:
        at = ms * RATE // 1000
        onset = at + int(np.flatnonzero(np.abs(x[at:]) > threshold)[0])
        assert 0 <= onset - at <= 0.005 * RATE
        # 5 s windows (whole beating periods): each clearly quieter than the last
        fives = [rms_db(x[at + s * 5 * RATE : at + (s + 1) * 5 * RATE]) for s in range(2)]
        assert fives[0] - fives[1] > 10
    first = [rms_db(x[RATE // 2 + s * 5 * RATE : RATE // 2 + (s + 1) * 5 * RATE]) for s in range(4)]
    assert all(a - b > 10 for a, b in itertools.pairwise(first))  # keeps decaying to the end
    silent_from = 500 * RATE // 1000 + round(gen.BELL_SECONDS * RATE)
    assert not x[silent_from : 30 * RATE].any()  # and silent again between strikes


def test_bell_has_inharmonic_partials() -> None:
    x = Bells(RATE, [0], -12, freq=220).render(0, 4 * RATE)[:, 0]
    assert abs(peak_hz(x, lo=150, hi=300) - 220) < 1.5
    assert abs(peak_hz(x, lo=500, hi=700) - 220 * 2.76) < 2


# --- music --------------------------------------------------------------------------------


def write_wav(path: Path, rate: int, seconds: float) -> None:
    """A chord whose notes do not fit the file length: a plain loop would click."""
    t = np.arange(int(rate * seconds)) / rate
    chord = sum(0.25 * np.cos(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    stereo = np.stack([chord, np.roll(chord, 37)], axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((stereo * 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def chord_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("music") / "chord.wav"
    write_wav(path, 48000, 3.0)  # not the session rate: ffmpeg resamples it
    return path


def test_music_loops_seamlessly(chord_wav: Path) -> None:
    music = Music(RATE, chord_wav, -24, loop=True)
    assert abs(music.frames - 3 * RATE) <= 2
    blocks = [music.render(s * RATE, RATE) for s in range(60)]
    x = np.concatenate(blocks)
    assert x.shape == (60 * RATE, 2)
    assert abs(rms_db(x) + 24) < 0.5
    half_seconds = x[: 120 * (RATE // 2)].reshape(120, RATE // 2, 2)
    assert (np.sqrt(np.mean(half_seconds**2, axis=(1, 2))) > 10 ** ((-24 - 6) / 20)).all()  # no gaps

    source = Music(RATE, chord_wav, -24, loop=False).render(0, music.frames)
    source_jump = np.abs(np.diff(source[1000:-1000], axis=0)).max()  # inside: not its cut ends
    # equal-power crossfade: |a*fade_in + b*fade_out| changes at most sqrt(2) times as fast
    bound = np.sqrt(2) * source_jump * 1.01
    period = music.frames - music.crossfade
    seams = range(period, 60 * RATE - music.crossfade, period)
    assert len(seams) >= 30
    for seam in seams:
        region = x[seam - 200 : seam + music.crossfade + 200]
        assert np.abs(np.diff(region, axis=0)).max() <= bound
    # the test can fail: butting the file against itself would click
    naive = np.concatenate([source, source])
    assert np.abs(np.diff(naive, axis=0)).max() > bound


def test_music_once_then_silence(chord_wav: Path) -> None:
    music = Music(RATE, chord_wav, -20, loop=False)
    x = np.concatenate([music.render(s * RATE, RATE) for s in range(6)])
    assert abs(rms_db(x[: music.frames]) + 20) < 0.5
    assert np.abs(x[music.frames - RATE // 10 : music.frames]).max() > 0.01  # plays to the end
    assert not x[music.frames :].any()


def test_music_block_invariant(chord_wav: Path) -> None:
    music = Music(RATE, chord_wav, -24, loop=True, crossfade_ms=500)
    for start in (0, 20 * RATE + 17):
        assert np.abs(music.render(start, 8 * RATE) - render_in_pieces(music, start, 8 * RATE, 1)).max() <= 1e-6


def test_music_missing_or_garbage_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        Music(RATE, tmp_path / "nope.ogg", -24, loop=True)
    garbage = tmp_path / "rain.mp3"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ValueError, match="cannot decode|no audio"):
        Music(RATE, garbage, -24, loop=True)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError):
        Music(RATE, empty, -24, loop=False)
    with pytest.raises(ValueError, match="not found"):
        Music(RATE, tmp_path, -24, loop=False)  # a folder


def test_the_written_out_pink_filter_is_scipys_partial_fractions() -> None:
    from scipy import signal

    r, p, k = signal.residuez(gen._PINK_B, gen._PINK_A)
    order = np.argsort(p.real)
    assert np.allclose(np.asarray(gen._PINK_POLES), p.real[order], rtol=0, atol=1e-15)
    assert np.allclose(np.asarray(gen._PINK_RESIDUES), r.real[order], rtol=0, atol=1e-15)
    assert gen._PINK_DIRECT == pytest.approx(float(k[0].real), abs=1e-15)


@pytest.mark.parametrize("color", ["pink", "brown"])
def test_the_one_pole_bank_filters_as_lfilter_does(color: str) -> None:
    from scipy import signal

    bank = gen.noise_filter(color, 44100)
    x = np.random.default_rng(3).standard_normal((2, 1 << 14)).astype(np.float32)
    if color == "pink":
        b, a = gen._PINK_B, gen._PINK_A
    else:
        pole = bank.poles[0]
        b, a = [1.0 - pole], [1.0, -pole]
    want = signal.lfilter(b, a, x.astype(np.float64), axis=-1)
    got = bank.apply(x)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
