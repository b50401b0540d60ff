"""Making clips mix-ready quickly: the levelling's shortcuts, its make-up cap, and where it runs.

The levelling measures a limited clip without filtering it again (K-weighting is
linear: the clip's filtered samples plus the filtered change the limiter made);
that must equal measuring the limited clip directly.  The gain search must land
on the target in a few tries, never raise a clip's quiet parts without end, and
the whole chain must run in the speech workers (so both cores share it) and give
the same samples as in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from legsup_audio.dsp import mono_true_peaks
from legsup_audio.speech import leveling, speaker
from legsup_audio.speech.base import Clip, SpeechOptions
from legsup_audio.speech.cache import ClipCache
from legsup_audio.speech.fake import FakeEngine
from legsup_audio.speech.leveling import MAX_MAKEUP_DB, TOLERANCE_LU, level
from legsup_audio.speech.speaker import (
    VOICE_LIMITER_HOLD_S,
    VOICE_LIMITER_RAMP_S,
    VOICE_LUFS,
    VOICE_PEAK_DBTP,
    Speaker,
    clip_loudness,
)
from legsup_audio.speech.supervised import SupervisedEngine

RATE = 44100
CEILING = 10 ** (VOICE_PEAK_DBTP / 20)
WINDOW, HOLD = int(RATE * VOICE_LIMITER_RAMP_S), int(RATE * VOICE_LIMITER_HOLD_S)


def syllables(seed: int, seconds: float = 3.0) -> np.ndarray:
    """Voiced syllables (a gliding harmonic tone) at uneven levels, with pauses between words.

    Most syllables sit together; now and then one is 10 dB louder, as a neural
    voice's stressed syllables are: those are what the clip limiter holds.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = rng.uniform(100, 140) * (1 + 0.05 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase + rng.uniform(0, 6)) / k for k in range(1, 30))
    rate = rng.uniform(3, 4.5)
    envelope = np.clip(3 * np.sin(np.pi * rate * t), 0.0, 1.0)
    envelope *= rng.choice([1.0, 1.0, 1.0, 0.5, 0.3, 3.0], size=int(seconds * rate) + 2)[(t * rate).astype(int)]
    envelope *= np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) > -0.3
    x = voiced * envelope + rng.standard_normal(t.shape[0]) * 0.01 * envelope
    return x / np.abs(x).max() * 0.3


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("gain_db", [0.0, 6.0, 15.0])
def test_measuring_a_limited_clip_by_its_changes_equals_measuring_it_whole(seed: int, gain_db: float) -> None:
    clip = leveling._Clip(syllables(seed), RATE, CEILING, WINDOW, HOLD)
    y, loudness = clip.at(gain_db)
    assert abs(loudness - clip_loudness(y, RATE)) < 1e-6
    assert float(mono_true_peaks(y).max()) <= CEILING * (1 + 1e-6)


def counting_tries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The gains (dB) the levelling tries from now on, in order."""
    tries: list[float] = []
    at = leveling._Clip.at
    monkeypatch.setattr(leveling._Clip, "at", lambda self, g: (tries.append(g), at(self, g))[1])
    return tries


@pytest.mark.parametrize("seed", range(8))
def test_a_peaky_clip_is_levelled_to_the_target_or_as_near_as_the_cap_allows(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    x = syllables(seed)
    whole = leveling._Clip(x, RATE, CEILING, WINDOW, HOLD)
    top = VOICE_LUFS - whole.unlimited_loudness() + MAX_MAKEUP_DB
    reachable = whole.at(top)[1] >= VOICE_LUFS
    tries = counting_tries(monkeypatch)
    y = level(x, RATE, VOICE_LUFS, CEILING, WINDOW, HOLD)
    assert float(mono_true_peaks(y).max()) <= CEILING * (1 + 1e-6)
    if reachable:
        assert abs(clip_loudness(y, RATE) - VOICE_LUFS) < TOLERANCE_LU
    else:  # as much as the cap allows, and no more
        assert max(tries) == pytest.approx(top) and abs(clip_loudness(y, RATE) - whole.at(top)[1]) < 1e-6


def test_a_clip_too_dense_for_the_ceiling_gets_at_most_the_make_up_cap() -> None:
    # Clicks 1 ms long, 200 ms apart: limited to the ceiling, no gain brings them to the target.
    x = np.zeros(RATE * 2)
    for start in range(0, x.shape[0] - 44, RATE // 5):
        x[start : start + 44] = np.hanning(44) * 0.5
    x += np.random.default_rng(1).standard_normal(x.shape[0]) * 1e-4  # a quiet floor that must not be pumped up
    unlimited = VOICE_LUFS - clip_loudness(x, RATE)
    y = level(x, RATE, VOICE_LUFS, CEILING, WINDOW, HOLD)
    assert clip_loudness(y, RATE) < VOICE_LUFS - TOLERANCE_LU  # it could not be reached
    quiet = np.abs(x) < 1e-3
    gain_db = 20 * np.log10(np.median(np.abs(y[quiet]) / np.abs(x[quiet])))
    assert gain_db <= unlimited + MAX_MAKEUP_DB + 1e-6


def test_a_clip_within_its_ceiling_takes_one_try(monkeypatch: pytest.MonkeyPatch) -> None:
    tries = counting_tries(monkeypatch)
    x = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE) * 0.01
    y = level(x, RATE, VOICE_LUFS, CEILING, WINDOW, HOLD)
    assert len(tries) == 1
    assert abs(clip_loudness(y, RATE) - VOICE_LUFS) < 0.01
    assert np.corrcoef(x, y)[0, 1] > 0.999999  # one gain, nothing else


FAKE = SpeechOptions("fake/en", 150, 0.9, sentence_pause_ms=0, ellipsis_pause_ms=600)
TEXTS = ["Let your legs rest.", "Breathe in... and out. [1s] Soften.", "Stay here."]


def test_the_workers_make_the_clips_mix_ready_with_the_same_samples(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    local = Speaker(FakeEngine(), FAKE, ClipCache(tmp_path / "local")).speak(TEXTS)

    def not_here(*args: object, **kwargs: object) -> Clip:
        raise AssertionError("the chain ran in the parent process")

    monkeypatch.setattr(speaker, "voice", not_here)  # the workers are fresh processes: this reaches only us
    engine = SupervisedEngine(FakeEngine)
    try:
        spoken = Speaker(engine, FAKE, ClipCache(tmp_path / "workers"), spare=lambda: SupervisedEngine(FakeEngine)).speak(TEXTS)
    finally:
        engine.close()
    for text in TEXTS:
        a, b = local[text].load(), spoken[text].load()
        assert b.rate == a.rate == RATE
        assert np.array_equal(a.samples, b.samples), text


LEVEL_IN_FRESH_PROCESS = """
import hashlib, sys
import numpy as np
from legsup_audio.speech.base import Clip
from legsup_audio.speech.speaker import voice
rng = np.random.default_rng(int(sys.argv[1]))
x = rng.standard_normal(22050 * 3) * np.maximum(0, np.sin(np.arange(22050 * 3) / 22050 * 20)) ** 2
clip = voice(Clip((x / np.abs(x).max() * 20000).astype(np.int16), 22050))
print(hashlib.sha256(clip.samples.tobytes()).hexdigest())
"""


def test_the_chain_gives_the_same_samples_in_fresh_processes() -> None:
    def run() -> str:
        return subprocess.run([sys.executable, "-c", LEVEL_IN_FRESH_PROCESS, "5"], capture_output=True, text=True,
                              check=True, env={**os.environ}, timeout=120).stdout.strip()

    assert run() == run() != ""


SENTENCES = [
    "Let your legs rest against the wall, and let the floor hold your back.",
    "Breathe in slowly through your nose.",
    "Notice how your legs feel now. Heavy, warm, and still.",
    "When you are ready, bend your knees and roll onto one side.",
]


@pytest.mark.e2e
def test_the_real_voice_is_levelled_in_three_or_four_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    from legsup_audio.speech.piper_engine import PiperEngine
    from legsup_audio.speech.voices import get_profile

    options = get_profile("default").options
    engine = PiperEngine()
    raw = [engine.synthesize(text, options) for text in SENTENCES]
    engine.close()
    counts = []
    for clip in raw:
        tries = counting_tries(monkeypatch)
        out = speaker.voice(speaker.trim_silence(clip), options.volume)
        y = out.samples / 32768 * 10 ** (10 / 20)  # stored 10 dB under its level in the mix
        assert abs(clip_loudness(y, RATE) - VOICE_LUFS) < TOLERANCE_LU + 0.01  # + rounding to 16 bits
        counts.append(len(tries))
        monkeypatch.undo()
    assert sum(counts) / len(counts) <= 4.0, counts  # a fixed 1.5x step took 6-10 (often all 10)
