"""The mix as a producer hears it, measured on exports: tones, bells, clip edges, peaks.

Sessions are spoken by the fake engine at volume 1.0 where the voice's timbre does
not matter, exported through the real encoder and measured against the timeline's
JSON form (BS.1770 by pyloudnorm, true peak by ffmpeg's ebur128).  The built-in
sessions are exported with their real voices (e2e).  Nothing compares bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mix_checks import (FULL_VOLUME_PROFILE, RATE, decode_channels, heard_voice_lufs, power_lufs, spans, true_peak,
                        voice_lufs)
from audio_checks import probe

from legsup_audio.output.encode import FORMATS
from legsup_audio.output.export import export_session
from legsup_audio.pipeline import build
from legsup_audio.script.blocks.background import BELL_RING_OUT_MS, DEFAULT_BELL_LEAD_MS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(fake_workdir: Path) -> Path:
    (fake_workdir / "voices" / "default.yaml").write_text(FULL_VOLUME_PROFILE, encoding="utf-8")
    return fake_workdir


def export(workdir: Path, text: str, fmt: str = "mp3") -> tuple[np.ndarray, dict, Path]:
    path = workdir / "s.yaml"
    path.write_text(text, encoding="utf-8")
    session = build(path)
    out = export_session(session, workdir / f"s.{fmt}", fmt=fmt, sidecars=False).path
    return decode_channels(out), json.loads(session.timeline.to_json()), out


TONES = """\
title: Tones
lead_in: 1s
steps:
  - title: Default
    cues: [Follow the tone as you breathe, slowly in and slowly out.]
    breathe: {pattern: 5-5, cycles: 3, guide: tone}
  - title: Quieter
    cues: [Now the tone is softer, further under my voice.]
    breathe: {pattern: 5-5, cycles: 3, guide: tone, level: -20dB}
"""


def test_guide_tones_sit_under_the_voice_by_their_level(workdir: Path) -> None:
    x, timeline, _ = export(workdir, TONES)
    voice = voice_lufs(x, timeline)
    tones = [e for e in timeline["events"] if e["kind"] == "tone"]
    by_step: dict[str, list[float]] = {}
    for e in tones:
        a, b = e["start"] + 1.5, e["end"] - 1.5  # the sustained middle of each 5 s tone
        by_step.setdefault(e["step"], []).append(power_lufs(x[int(a * RATE) : int(b * RATE)]))
    default, quieter = (float(np.mean(v)) for v in by_step.values())
    assert abs((voice - default) - 12.0) <= 1.5, (voice, default)
    assert abs((voice - quieter) - 20.0) <= 1.5, (voice, quieter)


BELLS = """\
title: Bells
lead_in: 1s
tail: 2s
background:
  bells: {at: steps, level: -12dB}
  fade_in: 1s
steps:
  - title: Arrive
    cues: [Welcome. Lie down and let the floor hold you.]
  - title: Legs up
    cues: [Swing your legs up onto the wall, slowly, one at a time., pause: 5s]
  - title: Rest
    cues: [Rest here. Nothing to do.]
"""


def test_each_bell_rings_before_its_steps_first_word_and_the_last_rings_out(workdir: Path) -> None:
    x, timeline, _ = export(workdir, BELLS)
    bells = [e["start"] for e in timeline["events"] if e["kind"] == "bell"]
    speech = [e for e in timeline["events"] if e["kind"] == "speech"]
    assert len(bells) == len(timeline["steps"]) + 1
    for step, bell in zip(timeline["steps"], bells):
        first = min(e["start"] for e in speech if e["step"] == step["id"])
        assert bell == step["start"]  # struck at the chapter mark
        assert first - bell == pytest.approx(DEFAULT_BELL_LEAD_MS / 1000, abs=0.002)
        # Heard: the bell blooms in the lead, before any word.
        bloom = power_lufs(x[int(bell * RATE) : int((bell + 0.4) * RATE)])
        assert bloom > voice_lufs(x, timeline) - 14, bloom
        assert power_lufs(x[int((bell - 0.5) * RATE) : int((bell - 0.05) * RATE)]) < bloom - 20
    # The last bell rings out: the file lasts long enough and its tail decays as a bowl does (the
    # upper partials fast, the fundamental about 1.5-3 dB a second), not faded out with the bed, and
    # it is gone by the end.
    last = bells[-1]
    duration = timeline["duration"]
    assert duration - last >= BELL_RING_OUT_MS / 1000 - 0.001
    assert last > speech[-1]["end"]
    level = [power_lufs(x[int((last + t) * RATE) : int((last + t + 0.4) * RATE)]) for t in (0.0, 4.0, 8.0)]
    assert level[0] > level[1] > level[2] > level[0] - 40, level  # still ringing 8 s on
    assert 3 < level[1] - level[2] < 15, level
    assert power_lufs(x[int((duration - 0.5) * RATE) :]) < level[0] - 35


CLIPS = """\
title: Edges
lead_in: 1s
steps:
  - title: One
    cues:
      - Let the back of your body soften.
      - pause: 1s
      - Feel the wall take the weight of your legs.
      - Breathe out slowly.
"""


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_speech_starts_without_a_jump(workdir: Path, fmt: str) -> None:
    x, timeline, _ = export(workdir, CLIPS, fmt)
    x = x[:, 0]
    for start, _ in spans(timeline, "speech"):
        at = int(round(start * RATE))
        before = x[at - int(0.02 * RATE) : at]  # digital silence (or codec noise) before the clip
        first = x[at : at + int(0.0005 * RATE)]  # its first half millisecond: inside the 4 ms fade
        steady = x[at + int(0.05 * RATE) : at + int(0.15 * RATE)]
        assert np.abs(before).max() < 1e-3
        # The fade starts from nothing: the first samples are 40 dB under the clip's own level.
        assert np.abs(first).max() < np.abs(steady).max() * 0.01 * (10 if fmt == "mp3" else 1), start
        # And nowhere near the clip's start does the waveform step further than the clip itself does.
        assert np.abs(np.diff(x[at - 10 : at + int(0.004 * RATE)])).max() <= np.abs(np.diff(steady)).max() * 1.05


BUILTINS = sorted(p.stem for p in (REPO / "scripts").glob("*.yaml"))


@pytest.mark.e2e
@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_keeps_its_true_peak_and_its_voice(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "LEGSUP_CACHE_DIR": os.environ.get("LEGSUP_E2E_CACHE", str(tmp_path / "cache"))}
    out = tmp_path / f"{name}.mp3"
    subprocess.run([sys.executable, "-m", "legsup_audio", "export", name, "-o", str(out)], env=env, check=True,
                   capture_output=True, text=True, timeout=3600)
    timeline = json.loads(subprocess.run([sys.executable, "-m", "legsup_audio", "timeline", name, "--json"], env=env,
                                         check=True, capture_output=True, text=True, timeout=600).stdout)
    assert true_peak(out) <= -1.0
    assert abs(heard_voice_lufs(decode_channels(out), timeline) - (-16.0)) <= 1.0
    stream = probe(out)["streams"][0]  # a bed is stereo at 160 kbit/s, a voice alone mono at 96
    bed = "background" in timeline  # the timeline JSON carries the bed's plan only when there is one
    assert (stream["channels"], int(stream["bit_rate"])) == ((2, 160_000) if bed else (1, 96_000))


@pytest.mark.parametrize(("channels", "bitrate", "expected"), [
    (2, None, ["-c:a", "libmp3lame", "-b:a", "160k", "-compression_level", "7"]),
    (1, None, ["-c:a", "libmp3lame", "-b:a", "96k"]),
    (2, "128k", ["-c:a", "libmp3lame", "-b:a", "128k"]),  # under 160k LAME's quality 7 sounds worse than its default
    (1, "192k", ["-c:a", "libmp3lame", "-b:a", "192k", "-compression_level", "7"]),
])
def test_mp3_uses_lames_quick_setting_only_from_160k(channels: int, bitrate: str | None, expected: list[str]) -> None:
    assert FORMATS["mp3"].encoder_args(channels, bitrate) == expected
    assert FORMATS["wav"].encoder_args(2, None) == ["-c:a", "pcm_s16le"]
    assert FORMATS["ogg"].encoder_args(2, None) == ["-c:a", "libvorbis", "-b:a", "128k"]
