"""The master stage's three paths, measured: a plain gain, light limiting, pressing harder.

Sessions are spoken by the fake engine; a synthetic "bed" layer with a controllable
spike lets each path be reached on purpose.  Every result is checked by measuring
what the master actually produces (streaming BS.1770 and sample peaks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from legsup_audio import master as M
from legsup_audio.pipeline import build, mix
from legsup_audio.render import Mix

SCRIPT = """\
title: Master test
steps:
  - title: One
    cues:
      - Let your shoulders soften as you breathe out.
      - pause: 2s
      - Feel the floor carry the weight of your back.
      - Rest here, nothing to do.
"""


class Spike:
    """A quiet steady tone, plus one loud burst placed on a voice peak."""

    channels = 1

    def __init__(self, total: int, at: int, level: float, burst: float) -> None:
        self.total, self.at, self.level, self.burst = total, at, level, burst

    def render(self, start: int, n: int) -> np.ndarray:
        idx = np.arange(start, start + n)
        out = self.level * np.sin(2 * np.pi * 220 * idx / 44100)
        near = np.abs(idx - self.at) < 441
        out[near] += self.burst * np.sign(np.sin(2 * np.pi * 220 * idx[near] / 44100) + 1e-9)
        return out.astype(np.float32)[:, None]


@pytest.fixture
def session(fake_workdir: Path):  # type: ignore[no-untyped-def]
    (fake_workdir / "m.yaml").write_text(SCRIPT, encoding="utf-8")
    return build(fake_workdir / "m.yaml")


def finished(source: M.Mastered) -> M.Loudness:
    return M.measure(source)


def test_plain_gain_for_a_voice_only_session(session) -> None:  # type: ignore[no-untyped-def]
    source, before = M.master(mix(session))
    assert source.limit is False
    after = finished(source)
    assert after.integrated == pytest.approx(-16.0, abs=0.05)
    assert after.peak <= M.CEILING_DBTP + 0.01


def test_a_small_overshoot_is_limited_without_measuring_again(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    voice_mix = mix(session)
    source, before = M.master(voice_mix)
    peak_frame = int(np.argmax(np.abs(np.concatenate(
        [voice_mix.render(s, min(44100, voice_mix.total - s))[:, 0] for s in range(0, voice_mix.total, 44100)]))))
    # A burst on the voice's peak that pushes the sum ~1 dB over the ceiling at the planned gain.
    target_amp = 10 ** ((M.CEILING_DBTP + 1.0) / 20) / source.gain
    voice_peak = 10 ** (before.peak / 20)
    bed = Spike(voice_mix.total, peak_frame, 1e-4, target_amp - voice_peak)
    both = Mix(session.timeline, [*voice_mix.layers, bed])
    measured: list[object] = []
    real_measure = M.measure
    monkeypatch.setattr(M, "measure", lambda src, *a, **k: measured.append(src) or real_measure(src, *a, **k))
    result, planned = M.master(both)
    assert 0 < source.gain_db + planned.peak - M.CEILING_DBTP <= M.LIGHT_LIMITING_DB
    assert result.limit is True and measured == []  # no extra render to measure
    after = real_measure(result)
    assert after.integrated == pytest.approx(-16.0, abs=0.1)
    assert after.peak <= M.CEILING_DBTP + 0.01


def test_a_large_overshoot_is_pressed_and_measured_to_the_target(session) -> None:  # type: ignore[no-untyped-def]
    voice_mix = mix(session)
    source, before = M.master(voice_mix)
    # A steady bed loud enough to count in the gate, with a burst 6 dB over the ceiling.
    bed = Spike(voice_mix.total, voice_mix.total // 2, 10 ** (-38 / 20), 10 ** ((M.CEILING_DBTP + 6) / 20) / source.gain)
    result, _ = M.master(Mix(session.timeline, [*voice_mix.layers, bed]))
    after = M.measure(result)
    assert result.limit is True
    assert after.peak <= M.CEILING_DBTP + 0.01
    assert after.integrated == pytest.approx(-16.0, abs=0.2)
    assert result.expected_lufs == pytest.approx(after.integrated, abs=0.2)
