"""Your own voice: recorded cues replace their synthetic ones, timed and levelled alike (#15).

Every recording here is a real audio file the test makes: espeak-ng speaking the
cue's words (a different voice from the session's) or a synthesised tone or
silence, converted by ffmpeg to WAV, FLAC, MP3, M4A or Ogg, mono and stereo, at
several rates.  The other cues speak with the fake engine (``fake_workdir``) for
speed, except in the one end-to-end test with the real default voice.  Audio is
checked by measurable properties: event lengths in the timeline, where a pure
220 Hz tone (the fake voice) is and is not, and loudness per cue.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audio_checks import decode
from legsup_audio.cli import app
from legsup_audio.speech.fake import fake_length_ms
from legsup_audio.speech.recordings import names, slug, text_hash
from legsup_audio.speech.takes import TakeProblem, decode as decode_take, longest_ms, read_take

RATE = 44100
CUES = ["Let your legs rest against the wall.", "Close your eyes and soften your jaw.",
        "Notice the floor beneath your back."]
SCRIPT = f"""\
title: My own voice
recordings: takes
gap: 1s
lead_in: 0.5s
tail: 1s
steps:
  - title: Settle
    cues:
      - {CUES[0]}
      - say: {CUES[1]}
        gap: 2s
      - {CUES[2]}
"""
LINES = {CUES[0]: 9, CUES[1]: 10, CUES[2]: 12}  # the line of each cue in SCRIPT


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def stems(texts: list[str] = CUES) -> dict[str, str]:
    return names(texts)


def make_audio(path: Path, *, text: str | None = None, lavfi: str | None = None, rate: int = 44100,
               channels: int = 1, volume_db: float = 0.0) -> Path:
    """``path`` in the format its extension names: espeak-ng saying ``text``, or an ffmpeg ``lavfi`` source."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        spoken = path.parent / f".{path.stem}.espeak.wav"
        subprocess.run(["espeak-ng", "-w", str(spoken), text], check=True, capture_output=True)
        source = ["-i", str(spoken)]
    else:
        source = ["-f", "lavfi", "-i", lavfi]
    codec = {".m4a": ["-c:a", "aac", "-b:a", "96k"], ".ogg": ["-c:a", "libvorbis"], ".mp3": ["-b:a", "96k"]}
    subprocess.run(["ffmpeg", "-v", "error", "-y", *source, "-af", f"volume={volume_db}dB", "-ac", str(channels),
                    "-ar", str(rate), *codec.get(path.suffix, []), str(path)], check=True, capture_output=True)
    if text is not None:
        spoken.unlink()
    return path


def take_path(work: Path, text: str, suffix: str = ".wav") -> Path:
    return work / "takes" / (stems()[text] + suffix)


def timeline(work: Path) -> dict:
    result = invoke("timeline", "s.yaml", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def speech(tl: dict) -> dict[str, tuple[float, float]]:
    return {e["text"]: (e["start"], e["end"]) for e in tl["events"] if e["kind"] == "speech"}


def length_ms(span: tuple[float, float]) -> int:
    return round((span[1] - span[0]) * 1000)


@pytest.fixture
def work(fake_workdir: Path) -> Path:
    (fake_workdir / "s.yaml").write_text(SCRIPT, encoding="utf-8")
    return fake_workdir


# -- names -------------------------------------------------------------------------------------
def test_names_are_readable_stable_and_follow_the_text() -> None:
    found = names(["Let your legs rest.", "Breathe in", "Let your legs rest."])
    assert found["Let your legs rest."] == f"001-let-your-legs-rest-{text_hash('Let your legs rest.')}"
    assert found["Breathe in"].startswith("002-breathe-in-")
    edited = names(["Let your legs rest here.", "Breathe in"])
    assert edited["Breathe in"] == found["Breathe in"]  # editing one cue changes one name
    assert edited["Let your legs rest here."] != found["Let your legs rest."]
    assert text_hash("Breathe   in") == text_hash("Breathe in")  # folding whitespace is no edit
    assert slug("Respira hondo, ¿sí?") == "respira-hondo-si"
    assert slug("静かに") == "cue"
    assert len(slug("word " * 30)) <= 40


# -- decoding: formats, channels, rates --------------------------------------------------------
@pytest.mark.parametrize("suffix, channels, rate", [
    (".wav", 1, 22050), (".flac", 2, 48000), (".mp3", 1, 16000), (".m4a", 2, 44100), (".ogg", 1, 8000),
    (".wav", 2, 96000),
])
def test_a_take_in_any_format_decodes_to_the_session_rate(tmp_path: Path, suffix: str, channels: int,
                                                          rate: int) -> None:
    path = make_audio(tmp_path / f"take{suffix}", lavfi="sine=f=300:d=1.5", rate=rate, channels=channels)
    clip = read_take(path, "Rest now.")
    assert clip.rate == RATE
    assert abs(clip.duration_ms - 1500) < 80  # codecs pad a little; trimming happens later
    spectrum = np.abs(np.fft.rfft(clip.samples.astype(np.float64)))
    assert abs(np.argmax(spectrum) * RATE / clip.samples.size - 300) < 3


def test_the_high_pass_removes_rumble_under_the_voice(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "rumble.wav", lavfi="aevalsrc=0.5*sin(2*PI*30*t)+0.05*sin(2*PI*400*t):d=2")
    x = read_take(path, "Rest now.").samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    at = lambda hz: spectrum[np.argmin(np.abs(freqs - hz))]  # noqa: E731
    # 30 Hz started 20 dB over 400 Hz; the 4th-order high-pass at 70 Hz takes about 29 dB off it
    assert 20 * np.log10(at(30) / at(400)) < -5


def test_decoding_has_a_time_limit_and_leaves_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    pid_file = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    take = make_audio(tmp_path / "take.wav", lavfi="sine=f=300:d=1")
    with pytest.raises(TakeProblem, match="took over 1 s to decode"):
        decode_take(take, RATE, RATE * 60, timeout_s=1)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


# -- the timeline follows each recording; the other cues keep theirs ------------------------------
def test_a_recorded_cue_replaces_exactly_its_cue_and_the_timeline_follows_its_length(work: Path) -> None:
    synthetic = speech(timeline(work))
    assert [length_ms(synthetic[t]) for t in CUES] == [fake_length_ms(t, 150) for t in CUES]
    take = make_audio(take_path(work, CUES[1], ".m4a"), text=CUES[1], rate=48000, channels=2, volume_db=-12)
    recorded = speech(timeline(work))
    own = read_take(take, CUES[1]).duration_ms  # its length before trimming: an upper bound
    assert 1000 < length_ms(recorded[CUES[1]]) <= own
    assert length_ms(recorded[CUES[1]]) != length_ms(synthetic[CUES[1]])
    # the other cues keep the synthetic voice's lengths; what follows moves by the difference
    for text in (CUES[0], CUES[2]):
        assert length_ms(recorded[text]) == length_ms(synthetic[text])
    assert recorded[CUES[0]] == synthetic[CUES[0]]
    shift = length_ms(recorded[CUES[1]]) - length_ms(synthetic[CUES[1]])
    assert round((recorded[CUES[2]][0] - synthetic[CUES[2]][0]) * 1000) == shift
    # the gap after the recorded cue is still its own 2 s
    assert round((recorded[CUES[2]][0] - recorded[CUES[1]][1]) * 1000) == 2000


def tone_share(samples: np.ndarray, span: tuple[float, float], hz: float = 220.0) -> float:
    """The share of a stretch's energy within 15 Hz of ``hz`` (the fake voice is a 220 Hz tone)."""
    x = samples[int(span[0] * RATE): int(span[1] * RATE)].astype(np.float64)
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(power[np.abs(freqs - hz) < 15].sum() / power.sum())


def test_the_export_plays_the_recording_in_its_cue_and_the_voice_in_the_others(work: Path) -> None:
    make_audio(take_path(work, CUES[0], ".flac"), text=CUES[0], rate=22050)
    assert invoke("export", "s.yaml", "-o", "out.wav", "--format", "wav").exit_code == 0
    samples, spans = decode(work / "out.wav"), speech(timeline(work))
    assert tone_share(samples, spans[CUES[0]]) < 0.2  # espeak-ng's words, not the fake tone
    assert tone_share(samples, spans[CUES[1]]) > 0.9
    assert tone_share(samples, spans[CUES[2]]) > 0.9


def test_breathing_guide_words_can_be_recorded_too(work: Path) -> None:
    (work / "s.yaml").write_text(SCRIPT + "  - title: Breathe\n    breathe: {pattern: 4-6, cycles: 2}\n",
                                 encoding="utf-8")
    assert invoke("recordings", "s.yaml").exit_code == 0
    rows = list(csv.DictReader((work / "takes" / "cues.csv").open(encoding="utf-8")))
    guide = next(row for row in rows if row["text"] == "Breathe in")
    make_audio(work / "takes" / guide["file"].replace(".wav", ".ogg"), text="Breathe in", rate=32000)
    events = [e for e in timeline(work)["events"] if e.get("text") == "Breathe in"]
    assert len(events) == 2 and all(length_ms((e["start"], e["end"])) != fake_length_ms("Breathe in")
                                    for e in events)


# -- a broken take is a script error; the output already there is untouched -----------------------
@pytest.mark.parametrize("kind", ["corrupt", "silent", "too long", "far too long", "empty"])
def test_an_unusable_take_is_a_script_error_at_its_cue_and_nothing_is_written(work: Path, kind: str) -> None:
    assert invoke("export", "s.yaml", "-o", "out.mp3").exit_code == 0
    before = (work / "out.mp3").read_bytes(), (work / "out.mp3").stat().st_mtime_ns
    take = take_path(work, CUES[2], ".mp3" if kind == "corrupt" else ".wav")
    take.parent.mkdir(exist_ok=True)
    if kind == "corrupt":
        take.write_bytes(b"ID3\x03\x00" + os.urandom(4000))
    elif kind == "silent":
        make_audio(take, lavfi="anullsrc=r=48000:cl=stereo,atrim=0:3", rate=48000, channels=2)
    elif kind == "too long":  # 40 s of steady sound for a 36-character cue (the limit is 19 s)
        make_audio(take, lavfi="sine=f=250:d=40")
    elif kind == "far too long":  # a whole recording session by mistake: not even decoded to its end
        make_audio(take, lavfi="sine=f=250:d=600", rate=8000)
    else:
        take.write_bytes(b"")
    result = invoke("export", "s.yaml", "-o", "out.mp3")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"s.yaml:{LINES[CUES[2]]}:9: recording ")
    assert str(Path("takes") / take.name) in lines[0]
    assert {"corrupt": "cannot be decoded", "silent": "is silent", "too long": "absurdly long",
            "far too long": "lasts over 1:18.750, far too long", "empty": "cannot be decoded"}[kind] in lines[0]
    assert ((work / "out.mp3").read_bytes(), (work / "out.mp3").stat().st_mtime_ns) == before
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []  # no temporary file left
    validated = invoke("validate", "s.yaml")
    assert validated.exit_code == 2 and lines[0] in validated.stderr


def test_every_unusable_take_is_reported_at_once(work: Path) -> None:
    take_path(work, CUES[0], ".ogg").parent.mkdir()
    take_path(work, CUES[0], ".ogg").write_bytes(b"OggS" + bytes(500))
    make_audio(take_path(work, CUES[2]), lavfi="anullsrc=r=44100:cl=mono,atrim=0:1")
    result = invoke("validate", "s.yaml")
    assert result.exit_code == 2
    assert [line.split(": ")[0] for line in result.stderr.strip().splitlines()] == ["s.yaml:9:9", "s.yaml:12:9"]


def test_two_takes_of_one_cue_are_an_error(work: Path) -> None:
    make_audio(take_path(work, CUES[0], ".wav"), lavfi="sine=f=300:d=1")
    make_audio(take_path(work, CUES[0], ".flac"), lavfi="sine=f=300:d=1")
    result = invoke("validate", "s.yaml")
    assert result.exit_code == 2 and "s.yaml:9:9: two recordings for this cue" in result.stderr


def test_recordings_must_name_a_folder(work: Path) -> None:
    (work / "takes").write_text("not a folder")
    result = invoke("validate", "s.yaml")
    assert result.exit_code == 2 and "s.yaml:2:13: recordings: " in result.stderr and "not a folder" in result.stderr


def test_a_folder_that_becomes_a_file_is_seen_by_the_next_command_of_the_same_process(work: Path) -> None:
    # One process, two commands: a script parsed by the first is not handed to the second
    # unchecked (its recordings folder is checked again, though the script is unchanged).
    (work / "takes").mkdir()
    assert invoke("validate", "s.yaml").exit_code == 0
    (work / "takes").rmdir()
    (work / "takes").write_text("not a folder")
    result = invoke("validate", "s.yaml")
    assert result.exit_code == 2 and "not a folder" in result.stderr


# -- a new take counts at once ------------------------------------------------------------------
def test_replacing_or_renaming_a_take_changes_the_next_export(work: Path) -> None:
    take = make_audio(take_path(work, CUES[0]), text=CUES[0])
    first = length_ms(speech(timeline(work))[CUES[0]])
    make_audio(take, text=CUES[0] + " Slowly, very slowly, all the way down.")  # a new take, same name
    second = length_ms(speech(timeline(work))[CUES[0]])
    assert second > first + 1000
    take.rename(take.with_name("spare-take.wav"))  # renamed away: the voice speaks the cue again
    assert length_ms(speech(timeline(work))[CUES[0]]) == fake_length_ms(CUES[0])
    (take.with_name("spare-take.wav")).rename(take_path(work, CUES[2]))  # renamed onto another cue
    spans = speech(timeline(work))
    assert length_ms(spans[CUES[2]]) == second and length_ms(spans[CUES[0]]) == fake_length_ms(CUES[0])
    assert invoke("export", "s.yaml", "-o", "out.wav", "--format", "wav").exit_code == 0
    assert tone_share(decode(work / "out.wav"), spans[CUES[2]]) < 0.2


def test_a_take_is_cached_by_its_content(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import legsup_audio.speech.speaker as speaker

    calls: list[Path] = []
    real = speaker.read_take
    monkeypatch.setattr(speaker, "read_take", lambda path, text: calls.append(path) or real(path, text))
    take = make_audio(take_path(work, CUES[0]), text=CUES[0])
    timeline(work)
    timeline(work)
    assert len(calls) == 1  # the second run found it in the cache
    take.write_bytes(take.read_bytes()[:-2000])  # the same name, other bytes
    timeline(work)
    assert len(calls) == 2


# -- legsup recordings and validate's warnings ---------------------------------------------------
def test_the_recordings_command_writes_the_cue_sheet_and_reports_on_a_second_run(work: Path) -> None:
    (work / "s.yaml").write_text(SCRIPT.replace("recordings: takes\n", ""), encoding="utf-8")
    first = invoke("recordings", "s.yaml")
    assert first.exit_code == 0, first.output
    folder = work / "recordings" / "s"  # the default: recordings/<script-id>/ beside the script
    rows = list(csv.reader((folder / "cues.csv").open(encoding="utf-8")))
    assert rows[0] == ["file", "line", "text"]
    assert rows[1:] == [[stems()[t] + ".wav", str(LINES[t] - 1), t] for t in CUES]
    assert rows[1][0].startswith("001-let-your-legs-rest-against-the-")
    assert "quiet room" in (folder / "README.txt").read_text(encoding="utf-8")
    assert "recordings: recordings/s" in first.stdout
    # record one, edit another cue's text, leave an old take: the second run says so and keeps them all
    make_audio(folder / rows[1][0].replace(".wav", ".mp3"), text=CUES[0])
    make_audio(folder / rows[2][0], lavfi="sine=f=300:d=1")
    (work / "s.yaml").write_text(SCRIPT.replace("recordings: takes\n", "").replace(CUES[1], "Close your eyes."),
                                 encoding="utf-8")
    (folder / "README.txt").write_text("my notes")
    second = invoke("recordings", "s.yaml")
    assert second.exit_code == 0, second.output
    out = second.stdout
    assert "present: 1 of 3" in out
    assert f"missing: {names([CUES[0], 'Close your eyes.', CUES[2]])['Close your eyes.']}.wav" in out
    assert f"no longer used: {rows[2][0]}" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["cues.csv", "README.txt", rows[1][0].replace(".wav", ".mp3"), rows[2][0]])
    assert (folder / "README.txt").read_text() == "my notes"  # kept
    rows = list(csv.reader((folder / "cues.csv").open(encoding="utf-8")))
    assert rows[1][0].endswith(".mp3") and rows[2][2] == "Close your eyes."  # the sheet names the take there


def test_the_recordings_command_uses_the_scripts_folder_or_o(work: Path, tmp_path: Path) -> None:
    assert invoke("recordings", "s.yaml").exit_code == 0
    assert (work / "takes" / "cues.csv").is_file()
    result = invoke("recordings", "s.yaml", "-o", str(tmp_path / "elsewhere"))
    assert result.exit_code == 0 and (tmp_path / "elsewhere" / "cues.csv").is_file()


def test_validate_warns_of_cues_not_recorded_yet(work: Path) -> None:
    result = invoke("validate", "s.yaml")
    assert result.exit_code == 0
    assert "s.yaml:2:13: warning: the recordings folder" in result.stderr
    make_audio(take_path(work, CUES[1]), text=CUES[1])
    result = invoke("validate", "s.yaml")
    assert result.exit_code == 0
    warned = [line for line in result.stderr.splitlines() if "no recording yet" in line]
    assert [line.split(": ")[0] for line in warned] == ["s.yaml:9:9", "s.yaml:12:9"]
    assert all(": warning: " in line for line in warned)
    assert f"takes/{stems()[CUES[0]]}.wav" in warned[0]


def test_the_limits_scale_with_the_text() -> None:
    assert longest_ms("Rest.") < longest_ms(CUES[0]) < 60_000


# -- end to end: the real default voice and a recorded cue in one export -------------------------
@pytest.mark.e2e
def test_recorded_and_synthetic_cues_are_equally_loud_in_one_export(tmp_path: Path) -> None:
    import pyloudnorm

    work = tmp_path / "work"
    work.mkdir()
    (work / "s.yaml").write_text(SCRIPT, encoding="utf-8")
    # a quiet, stereo, 48 kHz MP3 with rumble under it: a home recording
    raw = make_audio(work / "raw.wav", text=CUES[1], rate=48000)
    take = take_path(work, CUES[1], ".mp3")
    take.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(raw), "-f", "lavfi", "-i", "sine=f=40:d=10",
                    "-filter_complex", "[0]volume=-18dB[v];[1]volume=-40dB[r];[v][r]amix=inputs=2:duration=first",
                    "-ac", "2", "-ar", "48000", "-b:a", "128k", str(take)], check=True, capture_output=True)
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}

    def legsup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "legsup_audio", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)

    exported = legsup("export", "s.yaml", "-o", "out.wav", "--format", "wav")
    assert exported.returncode == 0, exported.stderr
    tl = legsup("timeline", "s.yaml", "--json")
    assert tl.returncode == 0, tl.stderr
    spans = speech(json.loads(tl.stdout))
    samples = decode(work / "out.wav").astype(np.float64)
    meter = pyloudnorm.Meter(RATE)
    loudness = {text: meter.integrated_loudness(samples[int(a * RATE): int(b * RATE)])
                for text, (a, b) in spans.items()}
    print("per-cue loudness (LUFS):", {text[:20]: round(v, 2) for text, v in loudness.items()})
    recorded, synthetic = loudness[CUES[1]], [loudness[CUES[0]], loudness[CUES[2]]]
    assert all(abs(recorded - other) < 1.0 for other in synthetic), loudness
    # the synthetic cues keep the real voice's lengths: the same as without any recording
    shutil.rmtree(work / "takes")
    plain = speech(json.loads(legsup("timeline", "s.yaml", "--json").stdout))
    assert [length_ms(plain[t]) for t in (CUES[0], CUES[2])] == [length_ms(spans[t]) for t in (CUES[0], CUES[2])]
    assert length_ms(plain[CUES[1]]) != length_ms(spans[CUES[1]])
