"""The background bed end to end: parsing, the timeline plan and bells, the bed layer, exports.

Levels are measured on rendered samples (the bed alone where the voice would get in
the way), exports by ffprobe and ffmpeg's ebur128; nothing compares bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audio_checks import decode, ebur128, probe
from mix_checks import decode_channels, gaps, power_lufs, voice_lufs
from legsup_audio.render.levels import gain_for, target_power
from legsup_audio.speech.speaker import VOICE_LUFS
from legsup_audio.render.bed.track import DUCK_ATTACK_MS, DUCK_RELEASE_MS, BedTrack
from legsup_audio.cli import app
from legsup_audio.compile.compiler import compile_script
from legsup_audio.script.parse import parse_script
from legsup_audio.speech.fake import fake_length_ms
from legsup_audio.compile.timeline import Timeline

RATE = 44100


def timeline_of(tmp_path: Path, text: str) -> Timeline:
    path = tmp_path / "bed.yaml"
    path.write_text(text, encoding="utf-8")
    return compile_script(parse_script(path), fake_length_ms)


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-30))


def level_at(bed: BedTrack, t_s: float, width_s: float = 0.2) -> float:
    """The bed's loudness over ``width_s`` around ``t_s``, in LU relative to the voice (what ``level:`` means)."""
    start = int((t_s - width_s / 2) * RATE)
    preroll = min(start, RATE // 2)  # the K-weighting filters settle on what came before
    x = bed.render(start - preroll, preroll + int(width_s * RATE)).astype(np.float64)
    if not x[preroll:].any():
        return float("-inf")
    return power_lufs(x, skip=preroll) - VOICE_LUFS


DUCKED = """\
title: Ducking
lead_in: 1s
tail: 2s
background:
  noise: {color: white, level: -30dB}     # steady: any 0.5 s of it measures -30 dB
  fade_in: 0s
  fade_out: 0s
  duck: 6dB
steps:
  - title: One
    id: one
    cues:
      - say: This cue is long enough to measure the dip under it.
        gap: 6s
      - say: And a second one, after a long quiet stretch.
        gap: 4s
"""


def test_the_bed_dips_by_duck_db_while_the_voice_speaks(tmp_path: Path) -> None:
    tl = timeline_of(tmp_path, DUCKED)
    bed = BedTrack(tl, RATE)
    speech = tl.speech()
    for event in speech:
        middle = (event.start + event.end) / 2000
        quiet = event.end / 1000 + 2.5  # well after the release, before the next attack
        dip = level_at(bed, quiet, 0.5) - level_at(bed, middle, 0.5)
        assert abs(dip - 6.0) <= 1.0, dip
        assert abs(level_at(bed, quiet, 0.5) - (-30.0)) <= 0.5
    # Smooth: the gain ramps over the attack and the release, never a step.
    start = speech[0].start * RATE // 1000
    ramp = bed.duck(np.arange(start - RATE, start + RATE))
    assert ramp is not None
    assert np.abs(np.diff(20 * np.log10(ramp))).max() < 6.0 / (DUCK_ATTACK_MS * RATE / 1000) * 2
    assert ramp[RATE - DUCK_ATTACK_MS * RATE // 1000 - 10] == pytest.approx(1.0)  # starts moving at the attack
    end = speech[0].end * RATE // 1000
    after = bed.duck(np.arange(end, end + RATE))
    assert after is not None and after[DUCK_RELEASE_MS * RATE // 1000 + 10] == pytest.approx(1.0)


STEPS = """\
title: Steps
lead_in: 0s
tail: 1s
background:
  drone: {note: A2, level: -30dB}
  bells: {at: [two, three], level: -20dB}
  fade_in: 0s
  fade_out: 0s
  duck: 0dB
steps:
  - title: One
    id: one
    duration: 10s
    cues: [Hello.]
  - title: Two
    id: two
    duration: 10s
    background:
      drone: {note: E3, level: -30dB}
    cues: [Again.]
  - title: Three
    id: three
    duration: 10s
    background: off
    cues: [Quiet.]
"""


def test_changes_crossfade_with_equal_power_and_off_silences(tmp_path: Path) -> None:
    tl = timeline_of(tmp_path, STEPS)
    bed = BedTrack(tl, RATE)
    bed.bells = []  # the drones only: the bells have their own test
    # A2 -> E3 at 10 s: two uncorrelated tones, equal power: the summed power of the two gains is
    # constant through the crossfade, and the measured level holds (within the drones' own drift).
    t = np.arange(int(9.0 * RATE), int(11.0 * RATE))
    a2, e3 = bed.sources
    power = bed.envelope(a2, t) ** 2 * a2.unit_power + bed.envelope(e3, t) ** 2 * e3.unit_power
    np.testing.assert_allclose(power, target_power(-30), rtol=1e-6)
    levels = [level_at(bed, t, 0.25) for t in np.arange(9.0, 11.01, 0.25)]
    assert max(levels) - min(levels) < 2.0, levels
    # The crossfade takes about 1.5 s, centred on the boundary.
    env = bed.envelope(a2, np.arange(int(9.0 * RATE), int(11.0 * RATE)))
    assert env[0] == pytest.approx(gain_for(-30, a2.unit_power))
    assert env[int(1.0 * RATE)] == pytest.approx(gain_for(-30, a2.unit_power) * np.cos(np.pi / 4), rel=1e-3)
    assert env[-1] == 0.0
    # `off` in step three: silence from the end of the fade out of E3.
    assert level_at(bed, 25.0) < -120
    assert level_at(bed, 19.0) == pytest.approx(-30.0, abs=0.5)
    assert level_at(bed, 20.0) == pytest.approx(-33.0, abs=0.6)  # halfway: cos(45 deg) = -3 dB


def test_bells_are_timeline_events_at_the_chosen_step_starts_and_the_end(
    fake_workdir: Path, runner: CliRunner
) -> None:
    (fake_workdir / "steps.yaml").write_text(STEPS, encoding="utf-8")
    result = runner.invoke(app, ["timeline", "steps.yaml", "--json"])
    assert result.exit_code == 0, result.output
    tl = json.loads(result.stdout)
    bells = [e for e in tl["events"] if e["kind"] == "bell"]
    starts = {s["id"]: s["start"] for s in tl["steps"]}
    # Step three is `off`: no bell there even though `at` names it; the session's end rings.
    assert [b["start"] for b in bells] == [starts["two"], tl["steps"][-1]["end"]]
    assert all(b["level"] == -20.0 and b["line"] == 6 for b in bells)
    plan = tl["background"]
    assert [s["step"] for s in plan["segments"]] == ["one", "two", "three"]
    assert plan["segments"][2]["layers"] == []
    assert plan["segments"][1]["layers"][0]["freq"] == pytest.approx(164.814)
    # And the bells sound where the timeline says.
    bed = BedTrack(Timeline.from_dict(tl), RATE)
    bed.sources = []
    assert level_at(bed, 10.2, 0.4) == pytest.approx(-20.0, abs=1.0)  # a strike's loudest 400 ms: its level
    assert level_at(bed, 9.9, 0.1) < -120


def test_the_bed_is_block_invariant(tmp_path: Path) -> None:
    text = STEPS.replace("duck: 0dB", "duck: 6dB\n  noise: {color: pink, level: -36dB}\n  fade_in: 2s")
    text = text.replace("  fade_in: 0s\n", "", 1)
    bed = BedTrack(timeline_of(tmp_path, text), RATE)
    total = bed.total
    whole = bed.render(0, total)
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, total), size=60, replace=False))
    pieces = [bed.render(a, b - a) for a, b in zip([0, *cuts], [*cuts, total])]
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-7, rtol=0)
    again = BedTrack(timeline_of(tmp_path, text), RATE)  # and reversed order, a fresh layer
    np.testing.assert_allclose(again.render(total - 5000, 5000), whole[-5000:], atol=1e-7, rtol=0)


# --- bad input -------------------------------------------------------------------------------

BAD = """\
title: Bad bed
background:
  drone: {note: A2, level: 3dB}
  noize: {color: pink}
steps:
  - title: One
    background:
      music: {file: missing.ogg}
    cues: [Hello.]
  - title: Two
    background:
      music: {file: broken.ogg, level: -20dB}
    cues: [Bye.]
"""


def test_bad_background_is_reported_with_lines_and_nothing_is_written(
    fake_workdir: Path, runner: CliRunner, tmp_path: Path
) -> None:
    (fake_workdir / "bad.yaml").write_text(BAD, encoding="utf-8")
    (fake_workdir / "broken.ogg").write_bytes(b"OggS but not really audio" * 10)
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(app, ["export", "bad.yaml", "-o", str(out / "bad.mp3")])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == ("bad.yaml:3:28: drone level: 3dB is above 0 dB; levels are dB relative to the voice "
                        "and must be at most 0 (e.g. -30dB: 30 dB under the voice)")
    assert lines[1].startswith("bad.yaml:4:3: unknown background layer 'noize' (did you mean 'noise'?)")
    assert lines[2].startswith("bad.yaml:8:21: music file not found: ")
    assert lines[3].startswith("bad.yaml:12:21: cannot decode music file ")
    assert len(lines) == 4 and "Traceback" not in result.output
    assert list(out.iterdir()) == []
    assert runner.invoke(app, ["validate", "bad.yaml"]).exit_code == 2


# --- exports ---------------------------------------------------------------------------------


def test_no_background_exports_the_voice_alone_in_mono(fake_workdir: Path, runner: CliRunner) -> None:
    text = STEPS.replace("  duck: 0dB\n", "  duck: 6dB\n  binaural: {carrier: 200, beat: 6, level: -34dB}\n")
    (fake_workdir / "s.yaml").write_text(text, encoding="utf-8")
    with_bed = runner.invoke(app, ["export", "s.yaml", "-o", "with.wav", "--format", "wav"])
    assert with_bed.exit_code == 0, with_bed.output
    without = runner.invoke(app, ["export", "s.yaml", "-o", "without.wav", "--format", "wav", "--no-background"])
    assert without.exit_code == 0, without.output
    assert probe(fake_workdir / "with.wav")["streams"][0]["channels"] == 2
    assert probe(fake_workdir / "without.wav")["streams"][0]["channels"] == 1
    quiet = decode(fake_workdir / "without.wav")[int(25.5 * RATE) : int(26.5 * RATE)]  # step three, no speech
    assert rms_db(quiet) < -90
    assert rms_db(decode(fake_workdir / "with.wav")[int(5 * RATE) : int(6 * RATE)]) > -50


def _tone_file(path: Path, seconds: float) -> None:
    """A few seconds of a soft chord whose end does not meet its start (a naive loop would click)."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.15 * np.sin(2 * np.pi * 331 * t + 1.0)
    stereo = np.stack([x, 0.8 * x], axis=1).astype("<f4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "2", "-i", "pipe:0",
                    "-c:a", "flac", str(path)], input=stereo.tobytes(), check=True)


MUSIC = """\
title: Music
lead_in: 1s
tail: 2s
background:
  music: {file: sounds/chord.flac, level: -24dB}
  fade_in: 2s
  fade_out: 3s
steps:
  - title: Listen
    duration: 60s
    cues:
      - Listen.
"""


def test_a_looped_music_file_runs_a_minute_without_clicks(fake_workdir: Path, runner: CliRunner) -> None:
    (fake_workdir / "sounds").mkdir()
    _tone_file(fake_workdir / "sounds" / "chord.flac", 3.0037)
    (fake_workdir / "music.yaml").write_text(MUSIC, encoding="utf-8")
    result = runner.invoke(app, ["export", "music.yaml", "-o", "music.wav", "--format", "wav"])
    assert result.exit_code == 0, result.output
    assert probe(fake_workdir / "music.wav")["streams"][0]["channels"] == 2
    x = decode(fake_workdir / "music.wav").astype(np.float64)
    assert abs(len(x) / RATE - 63.0) < 0.01
    bed = x[int(4 * RATE) : int(59 * RATE)]  # after the cue and the fade in, before the fade out
    # The level holds through all ~18 loop seams (equal-power crossfades)...
    windows = bed[: len(bed) // 4410 * 4410].reshape(-1, 4410)
    levels = 10 * np.log10(np.mean(windows**2, axis=1))
    assert levels.max() - levels.min() < 3.5, (levels.min(), levels.max())
    # ...and nothing clicks: the second difference of two soft tones stays tiny everywhere.
    amp = np.abs(bed).max()
    smooth_limit = amp * (2 * np.pi * 331 / RATE) ** 2 * 3
    assert np.abs(np.diff(bed, 2)).max() < smooth_limit



def test_a_music_file_sounds_its_level_under_the_voice(fake_workdir: Path, tmp_path: Path) -> None:
    """Music is measured when it is loaded: its level means loudness under the voice, like the synthetic layers'."""
    (fake_workdir / "sounds").mkdir()
    _tone_file(fake_workdir / "sounds" / "chord.flac", 20.0)
    text = MUSIC.replace("sounds/", str(fake_workdir / "sounds") + "/").replace("level: -24dB}", "level: -24dB, loop: false}")
    bed = BedTrack(timeline_of(fake_workdir, text), RATE)
    assert level_at(bed, 12.0, 4.0) == pytest.approx(-24.0, abs=0.5)  # played once: no loop seam in the way


E2E = """\
title: Bed loudness
lead_in: 1s
tail: 4s
background:
  drone: {note: A2, level: -36dB}
  noise: {color: pink, level: -42dB}
  bells: {at: steps, level: -28dB}
  fade_in: 3s
  fade_out: 3s
steps:
  - title: Arrive
    duration: 20s
    cues:
      - Welcome. Let the sound hold you while you rest.
      - pause: 4s
      - Notice your breath, slow and easy.
  - title: Rest
    duration: 20s
    cues:
      - Rest here for a while.
      - at: 12s
        say: Now slowly come back.
"""


@pytest.mark.e2e
def test_an_exported_session_with_a_bed_meets_loudness_and_true_peak(tmp_path: Path) -> None:
    script = tmp_path / "bed.yaml"
    script.write_text(E2E, encoding="utf-8")
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "bed.mp3"
    result = subprocess.run([sys.executable, "-m", "legsup_audio", "export", str(script), "-o", str(out)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    measured = ebur128(out)
    assert measured.true_peak <= -1.0, measured
    # The voice is at -16 LUFS while it speaks; in the longest quiet stretch the bed is there at the
    # level the script gives it (drone -36 and noise -42 together: 35 LU under the voice).
    timeline = json.loads(subprocess.run([sys.executable, "-m", "legsup_audio", "timeline", str(script), "--json"],
                                         env=env, capture_output=True, text=True, timeout=300, check=True).stdout)
    x = decode_channels(out)
    assert x.shape[1] == 2
    voice = voice_lufs(x, timeline)
    assert abs(voice - (-16.0)) <= 1.0, voice
    a, b = max(gaps(timeline, 1.0), key=lambda g: g[1] - g[0])
    quiet = power_lufs(x[int(a * RATE) : int(b * RATE)])
    assert abs((voice - quiet) - 35.0) <= 2.0, (voice, quiet)
