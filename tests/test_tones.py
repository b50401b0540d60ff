"""The breathing guide's tone (``tones.ToneTrack``), measured as audio.

Pitch is measured as the instantaneous frequency of the rendered samples (the
phase of the analytic signal), clicks as sudden steps and as energy far above
the tone's pitch at its edges, block invariance by rendering the same frames in
different cuts.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import hilbert

from legsup_audio.pipeline import build, mix
from legsup_audio.render.mix import Mix, VoiceTrack
from legsup_audio.units import SAMPLE_RATE
from legsup_audio.speech.cache import ClipCache
from legsup_audio.speech.fake import FakeEngine
from legsup_audio.compile.timeline import Event, Timeline
from legsup_audio.render.tones import (
    TONE_HIGH_HZ,
    TONE_LOW_HZ,
    ToneTrack,
    tone_amplitude,
)
from legsup_audio.script.blocks.breathe import DEFAULT_TONE_LEVEL_DB
from legsup_audio.speech.speaker import VOICE_LUFS

RATE = SAMPLE_RATE
TONE_AMPLITUDE = tone_amplitude(DEFAULT_TONE_LEVEL_DB, TONE_LOW_HZ, TONE_HIGH_HZ)
TONE_RMS_DBFS = 20 * np.log10(TONE_AMPLITUDE / np.sqrt(2))


def tone(kind: str, start: int, end: int, low: float = TONE_LOW_HZ, high: float = TONE_HIGH_HZ) -> Event:
    a, b = (low, high) if kind == "rising" else (high, low)
    return Event("tone", start, end, "s", 1, data=(("pitch", kind), ("from_hz", a), ("to_hz", b)))


# A 4 s inhale, a 6 s exhale straight after it, then a short 1.5 s tone after a pause.
EVENTS = (tone("rising", 1000, 5000), tone("falling", 5000, 11000), tone("rising", 12_500, 14_000))
TIMELINE = Timeline("t", 15_000, (), EVENTS)


@pytest.fixture(scope="module")
def whole() -> np.ndarray:
    out = ToneTrack(TIMELINE).render(0, 15 * RATE)
    assert out.shape == (15 * RATE, 1) and out.dtype == np.float32
    return out[:, 0].astype(np.float64)


def frames(ms: int) -> int:
    return ms * RATE // 1000


def inst_freq(x: np.ndarray) -> np.ndarray:
    return np.diff(np.unwrap(np.angle(hilbert(x)))) * RATE / (2 * np.pi)


def mean_freq(x: np.ndarray, lo: float, hi: float) -> float:
    """Mean instantaneous frequency between fractions ``lo`` and ``hi`` of ``x``."""
    f = inst_freq(x)
    return float(np.median(f[int(lo * f.size) : int(hi * f.size)]))


def test_pitch_rises_while_breathing_in_and_falls_while_breathing_out(whole: np.ndarray) -> None:
    inhale = whole[frames(1000) : frames(5000)]
    exhale = whole[frames(5000) : frames(11000)]
    early_in, late_in = mean_freq(inhale, 0.18, 0.26), mean_freq(inhale, 0.74, 0.82)
    early_out, late_out = mean_freq(exhale, 0.18, 0.26), mean_freq(exhale, 0.74, 0.82)
    assert late_in - early_in > 50 and early_out - late_out > 50
    # An even glide in pitch: f(t) = from * (to / from) ** (t / T), checked at the windows' middles.
    assert early_in == pytest.approx(TONE_LOW_HZ * 1.5**0.22, abs=2)
    assert late_in == pytest.approx(TONE_LOW_HZ * 1.5**0.78, abs=2)
    assert early_out == pytest.approx(TONE_HIGH_HZ / 1.5**0.22, abs=2)
    assert late_out == pytest.approx(TONE_HIGH_HZ / 1.5**0.78, abs=2)
    # It starts and ends near the low and high notes of the guide.
    assert TONE_LOW_HZ - 2 < mean_freq(inhale, 0.15, 0.17) < TONE_LOW_HZ * 1.1
    assert TONE_HIGH_HZ / 1.1 < mean_freq(inhale, 0.83, 0.85) < TONE_HIGH_HZ + 2


def test_level_of_the_sustained_tone(whole: np.ndarray) -> None:
    """The sustained tone's loudness (K-weighted) is its level under the voice: 12 LU by default."""
    from mix_checks import power_lufs

    middle = whole[frames(2500) : frames(3500)]
    assert power_lufs(middle) == pytest.approx(VOICE_LUFS + DEFAULT_TONE_LEVEL_DB, abs=0.3)
    assert np.abs(whole).max() <= TONE_AMPLITUDE + 1e-6


def test_a_breathe_level_sets_the_tones_under_the_voice() -> None:
    from mix_checks import power_lufs

    event = Event("tone", 0, 4000, "s", 1, data=(("pitch", "rising"), ("from_hz", TONE_LOW_HZ),
                                                 ("to_hz", TONE_HIGH_HZ), ("level", -20.0)))
    x = ToneTrack(Timeline("t", 4000, (), (event,))).render(0, 4 * RATE)[:, 0].astype(np.float64)
    assert power_lufs(x[frames(1500) : frames(2500)]) == pytest.approx(VOICE_LUFS - 20.0, abs=0.3)


def test_silent_outside_tones_and_no_clicks_at_the_edges(whole: np.ndarray) -> None:
    # Exactly silent outside the events.
    assert not whole[: frames(1000)].any()
    assert not whole[frames(11000) : frames(12500)].any()
    assert not whole[frames(14000) :].any()
    # Fades: the first and last 5 ms of every tone stay under 1% of the full amplitude.
    edge = frames(5)
    for e in EVENTS:
        a, b = frames(e.start), frames(e.end)
        assert np.abs(whole[a : a + edge]).max() < 0.01 * TONE_AMPLITUDE
        assert np.abs(whole[b - edge : b]).max() < 0.01 * TONE_AMPLITUDE
    # No sample-to-sample step larger than a sine at the highest pitch can make.
    max_step = TONE_AMPLITUDE * 2 * np.pi * TONE_HIGH_HZ / RATE
    assert np.abs(np.diff(whole)).max() <= max_step * 1.01
    # A click is broadband: around every edge, energy above 2 kHz is 60 dB under the tone.
    for e in EVENTS:
        for at in (frames(e.start), frames(e.end)):
            piece = whole[at - frames(25) : at + frames(25)] * np.hanning(2 * frames(25))
            spectrum = np.abs(np.fft.rfft(piece, 8 * piece.size))
            freqs = np.fft.rfftfreq(8 * piece.size, 1 / RATE)
            if spectrum.max() > 0:
                assert spectrum[freqs > 2000].max() < 1e-3 * spectrum.max()


def test_a_rectangular_cut_would_fail_the_click_check() -> None:
    """The spectral check above is able to see a click: a sine stopped mid-cycle."""
    t = np.arange(frames(50)) / RATE
    piece = TONE_AMPLITUDE * np.sin(2 * np.pi * 300 * t)
    piece[frames(25) :] = 0
    windowed = piece * np.hanning(piece.size)
    spectrum = np.abs(np.fft.rfft(windowed, 8 * piece.size))
    freqs = np.fft.rfftfreq(8 * piece.size, 1 / RATE)
    assert spectrum[freqs > 2000].max() > 1e-3 * spectrum.max()


def test_block_invariance(whole: np.ndarray) -> None:
    track = ToneTrack(TIMELINE)
    rng = np.random.default_rng(3)
    total = whole.size
    for _ in range(10):
        cuts = [0, *sorted(int(c) for c in rng.integers(1, total, size=int(rng.integers(1, 40)))), total]
        parts = np.concatenate([track.render(a, b - a) for a, b in itertools.pairwise(cuts)])
        assert np.array_equal(parts[:, 0], whole.astype(np.float32))
    # Any single range, however it starts, equals that slice of the whole.
    for start in (0, 1, frames(4999), frames(5000) - 1, frames(12_500) + 7):
        assert np.array_equal(track.render(start, 3001)[:, 0], whole[start : start + 3001].astype(np.float32))


def test_no_tone_events_means_no_sound_and_a_false_track() -> None:
    empty = ToneTrack(Timeline("t", 5000, (), (Event("speech", 0, 500, "s", 1, text="Hi"),)))
    assert not empty and len(empty) == 0
    assert not empty.render(0, RATE).any()


SCRIPT = """\
title: T
steps:
  - title: Words then tones
    cues: [Breathe with me.]
    breathe: {pattern: 2-3, cycles: 3, voice_cycles: 1}
"""


def test_pipeline_mixes_tones_only_when_there_are_some(tmp_path: Path) -> None:
    with_tones = tmp_path / "tones.yaml"
    with_tones.write_text(SCRIPT, encoding="utf-8")
    voice_only = tmp_path / "voice.yaml"
    voice_only.write_text(SCRIPT.replace("voice_cycles: 1", "guide: words"), encoding="utf-8")
    cache = ClipCache(tmp_path / "cache")

    session = build(with_tones, cache=cache, engine=FakeEngine())
    layers = mix(session).layers
    assert [type(layer) for layer in layers] == [VoiceTrack, ToneTrack]
    plain = build(voice_only, cache=cache, engine=FakeEngine())
    assert [type(layer) for layer in mix(plain).layers] == [VoiceTrack]

    # In the mix, tones sound in the tone cycles and the voice in the first.
    m: Mix = mix(session)
    tones = [e for e in session.timeline.events if e.kind == "tone"]
    assert len(tones) == 4
    for e in tones:
        a, b = frames(e.start), frames(e.end)
        mid = m.render((a + b) // 2, RATE // 10)
        assert 20 * np.log10(np.sqrt(np.mean(mid**2))) > TONE_RMS_DBFS - 3
