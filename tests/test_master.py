"""The voice-anchored master, measured on exports: the voice at -16 LUFS while it speaks, as heard
(a mono file measured as dual mono, as it plays on two ears: -19 LUFS by plain BS.1770).

Each session is spoken by the fake engine at volume 1.0 (its timbre does not matter
here), exported to MP3 through the real encoder, decoded by ffmpeg and measured:
the voice by BS.1770 over only the stretches where the timeline says it speaks, the
bed between cues, the true peak by ffmpeg's ebur128.  Nothing compares bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mix_checks import (
    FULL_VOLUME_PROFILE,
    correlation,
    decode_channels,
    dual_mono_lufs,
    gaps,
    heard_voice_lufs,
    loudness,
    power_lufs,
    true_peak,
    voice_lufs,
)

from legsup_audio.output.export import export_session
from legsup_audio.pipeline import build, mix
from legsup_audio.render import master as M


def _cues(count: int, pause: str) -> str:
    lines = []
    for i in range(count):
        lines.append(f"      - Cue number {i + 1}, to let the shoulders soften and the breath slow down.")
        if pause:
            lines.append(f"      - pause: {pause}")
    return "\n".join(lines)


def script(dense: bool, bed: str = "") -> str:
    """A session of one minute or so: dense (back-to-back speech) or sparse (a cue every 15 s)."""
    body = _cues(12, "") if dense else _cues(5, "12s")
    return f"title: Anchor\nlead_in: 1s\ntail: 2s\n{bed}steps:\n  - title: One\n    cues:\n{body}\n"


BED = "background:\n  drone: {note: A2, level: -27dB}\n  noise: {color: pink, level: -30dB}\n  fade_in: 1s\n"


@pytest.fixture
def workdir(fake_workdir: Path) -> Path:
    (fake_workdir / "voices" / "default.yaml").write_text(FULL_VOLUME_PROFILE, encoding="utf-8")
    return fake_workdir


def export(workdir: Path, text: str, name: str) -> tuple[np.ndarray, dict, Path]:
    path = workdir / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    session = build(path)
    out = export_session(session, workdir / f"{name}.mp3", sidecars=False).path
    return decode_channels(out), json.loads(session.timeline.to_json()), out


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("bed", [False, True], ids=["voice", "bed"])
def test_the_voice_is_at_minus_16_lufs_while_it_speaks(workdir: Path, dense: bool, bed: bool) -> None:
    x, timeline, out = export(workdir, script(dense, BED if bed else ""), "s")
    assert x.shape[1] == (2 if bed else 1)  # a bed makes the file stereo; the voice alone stays mono
    measured = heard_voice_lufs(x, timeline)  # a mono file as dual mono
    assert abs(measured - M.TARGET_LUFS) <= 1.0, measured
    assert true_peak(out) <= -1.0


def test_a_voice_only_file_is_minus_16_lufs_as_ffmpeg_hears_it_on_two_ears(workdir: Path) -> None:
    """Back-to-back speech, no bed: ffmpeg's dual-mono integrated loudness of the whole mono file
    is the voice's (-16), and plain BS.1770 gives 3 dB less: a mono file is not louder than a
    stereo one with the same voice."""
    x, _, out = export(workdir, script(True), "mono")
    assert x.shape[1] == 1
    assert abs(dual_mono_lufs(out) - M.TARGET_LUFS) <= 1.0
    assert abs(loudness(x[:, 0]) - (M.TARGET_LUFS - 3.0)) <= 1.0
    stereo_x, stereo_timeline, _ = export(workdir, script(True, BED), "stereo")
    mono_x, mono_timeline, _ = export(workdir, script(True), "mono2")
    assert abs(heard_voice_lufs(stereo_x, stereo_timeline) - heard_voice_lufs(mono_x, mono_timeline)) <= 0.5


def test_the_bed_keeps_the_level_the_script_gives_it_whatever_the_speech(workdir: Path) -> None:
    """Sparse or dense speech, the noise between cues measures its level under the voice (no whole-file push)."""
    bed = "background:\n  noise: {color: pink, level: -30dB}\n  fade_in: 1s\n"
    x, timeline, _ = export(workdir, script(False, bed), "n")
    voice = voice_lufs(x, timeline)
    between = [power_lufs(x[int(a * 44100) : int(b * 44100)]) for a, b in gaps(timeline, 4.0)]
    assert len(between) >= 3
    for level in between:
        assert abs((voice - level) - 30.0) <= 2.0, (voice, between)


def test_the_limiter_holds_a_loud_layer_under_the_ceiling() -> None:
    """A layer far over the ceiling is limited; everything else passes at the known gain."""

    class Loud:
        channels = 1

        def render(self, start: int, n: int) -> np.ndarray:
            idx = np.arange(start, start + n)
            out = 0.01 * np.sin(2 * np.pi * 97 * idx / 44100)
            out[(idx // 44100) % 2 == 1] *= 100  # every other second: a 0 dBFS tone
            return out.astype(np.float32)[:, None]

    class Timeline:
        duration = 6000

        def speech(self) -> list:
            return []

    source = M.Mastered(M.Mix(Timeline(), [Loud()]), gain_db=4.0)  # type: ignore[arg-type]
    whole = np.concatenate([source.render(s, 44100) for s in range(0, source.total, 44100)])
    assert 20 * np.log10(np.abs(whole).max()) <= M.CEILING_DBTP + 0.05
    quiet = whole[int(0.2 * 44100) : int(0.8 * 44100), 0]  # a quiet second, away from the limiter's reach
    assert 20 * np.log10(np.abs(quiet).max()) == pytest.approx(20 * np.log10(0.01) + 4.0, abs=0.05)


def test_the_master_is_one_known_gain(workdir: Path) -> None:
    from legsup_audio.speech.speaker import VOICE_LUFS

    path = workdir / "g.yaml"
    path.write_text(script(True, BED), encoding="utf-8")
    source, voice = M.master(mix(build(path)))
    assert source.gain_db == pytest.approx(M.TARGET_LUFS - VOICE_LUFS)
    assert voice.integrated == VOICE_LUFS
    path.write_text(script(True), encoding="utf-8")  # no bed: a mono file, heard on two ears, 3 dB lower
    mono, _ = M.master(mix(build(path)))
    assert mono.channels == 1 and mono.gain_db == pytest.approx(M.TARGET_LUFS - VOICE_LUFS - 3.0103, abs=1e-3)


def test_a_bed_is_decorrelated_left_and_right(workdir: Path) -> None:
    bed = "background:\n  noise: {color: pink, level: -30dB}\n  fade_in: 1s\n"
    x, timeline, _ = export(workdir, script(False, bed), "c")
    a, b = gaps(timeline, 4.0)[0]
    assert abs(correlation(x[int(a * 44100) : int(b * 44100)])) < 0.1
    bed = "background:\n  drone: {note: A2, level: -27dB}\n  fade_in: 1s\n"
    x, timeline, _ = export(workdir, script(False, bed), "d")
    a, b = gaps(timeline, 4.0)[0]
    assert 0.5 < correlation(x[int(a * 44100) : int(b * 44100)]) < 0.95  # a little width, the root centred
