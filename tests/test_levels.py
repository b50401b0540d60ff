"""Level profiles against the real thing: what the master plans without rendering, measured.

For beds of every synthetic layer, guide tones and bells, the planned loudness
must match a streaming BS.1770 measurement of the rendered mix, each step's
planned energy must match its measured energy, and each step's peak bound must
hold for the rendered samples (noise, being random, is held to a rate).  Voices
come from the fake engine (a 220 Hz burst), so no bed here sits on 220 Hz: the
plan adds the energies of independent layers, which a real voice and bed are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from legsup_audio.render import master as M
from legsup_audio.render.levels import measure_layer
from legsup_audio.pipeline import build, mix
from legsup_audio.render.mix import BLOCK_FRAMES

BEDS = {
    "drone-pink-bells": """\
background:
  drone: {note: C3, level: -30dB}
  noise: {color: pink, level: -38dB}
  bells: {at: steps, level: -20dB}
  fade_in: 3s
  fade_out: 3s
""",
    "binaural-brown": """\
background:
  binaural: {carrier: 200, beat: 6, level: -32dB}
  noise: {color: brown, level: -36dB}
""",
    "isochronic-white-duck12": """\
background:
  isochronic: {freq: 180, rate: 8, level: -34dB}
  noise: {color: white, level: -44dB}
  duck: 12dB
""",
    "periodic-only": """\
background:
  drone: {freq: 97, level: -28dB}
  isochronic: {freq: 300, rate: 4, level: -36dB}
  bells: {at: steps, level: -18dB}
""",
}

STEPS = """\
steps:
  - title: One
    duration: 30s
    cues:
      - Let your shoulders soften as you breathe out.
      - at: 12s
        say: Feel the floor carry the weight of your back.
  - title: Two
    duration: 25s
    background:
      drone: off
    cues:
      - Rest here, nothing to do.
  - title: Breath
    cues:
      - Follow the tone.
    breathe:
      pattern: 4-6
      cycles: 3
      guide: tone
"""


def session_mix(workdir: Path, bed: str):  # type: ignore[no-untyped-def]
    (workdir / "s.yaml").write_text(f"title: Levels\nlead_in: 1s\ntail: 4s\n{bed}{STEPS}", encoding="utf-8")
    return mix(build(workdir / "s.yaml"))


@pytest.mark.parametrize("name", sorted(BEDS))
def test_the_planned_loudness_is_the_measured_loudness(fake_workdir: Path, name: str) -> None:
    m = session_mix(fake_workdir, BEDS[name])
    planned = M.plan(m)
    measured = M.measure(m)
    assert planned.integrated == pytest.approx(measured.integrated, abs=0.1)
    assert planned.peak >= measured.peak - 0.01  # a bound (true peak >= sample peak)


@pytest.mark.parametrize("name", sorted(BEDS))
def test_each_layers_steps_match_what_it_renders(fake_workdir: Path, name: str) -> None:
    m = session_mix(fake_workdir, BEDS[name])
    step = m.rate // 10
    count = m.total // step
    noisy = "noise" in BEDS[name]
    for layer in m.layers:
        planned = layer.profile(step, count)
        assert planned is not None, f"{type(layer).__name__} should describe itself"
        real = measure_layer(layer, m.rate, m.total, step, layer.channels, BLOCK_FRAMES)
        sounding = real.energies > 1e-3 * real.energies.max()
        ratio_db = 10 * np.log10(planned.energies[sounding] / real.energies[sounding])
        # Energies: steady layers exactly; noise is random from step to step, its mean is right.
        assert abs(float(np.median(ratio_db))) < 0.25, type(layer).__name__
        if not noisy or type(layer).__name__ != "BedTrack":
            assert np.percentile(np.abs(ratio_db), 95) < 0.5, type(layer).__name__
        else:
            assert np.percentile(np.abs(ratio_db), 95) < 2.0
        # Peaks: a bound at every step (noise: at all but a rare step).
        held = planned.peaks >= real.peaks * 0.999
        if noisy and type(layer).__name__ == "BedTrack":
            assert held.mean() > 0.999
        else:
            assert held.all(), (type(layer).__name__, np.flatnonzero(~held)[:5])
