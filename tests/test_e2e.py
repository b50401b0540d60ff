"""End to end with the real parts: espeak-ng through pyttsx3, ffmpeg, the installed command.

A small script is exported by a real ``legsup`` subprocess; ffprobe and ffmpeg
(independent tools) then check the format, the duration against the timeline,
where speech starts and where it is silent, the loudness and the tags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audio_checks import decode, ebur128, first_loud_ms, probe, window_db

pytestmark = pytest.mark.e2e

SCRIPT = """\
title: Small Test Session
author: Test Author
gap: 1s
lead_in: 0.5s
tail: 2s
steps:
  - title: Arrive
    cues:
      - Welcome. Find a quiet place to lie down.
      - say: Let your breath slow down.
        gap: 2s
      - pause: 3s
      - Notice the floor beneath you.
  - title: Rest
    duration: 15s
    cues:
      - Rest here for a moment.
      - at: 8s
        say: Now slowly come back.
"""


def run_legsup(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("e2e")
    script = work / "small.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(work / "cache")}
    out = work / "out" / "small.mp3"
    result = run_legsup("export", str(script), "-o", str(out), env=env, cwd=work)
    assert result.returncode == 0, result.stderr
    timeline = run_legsup("timeline", str(script), "--json", env=env, cwd=work)
    assert timeline.returncode == 0, timeline.stderr
    return {"path": out, "timeline": json.loads(timeline.stdout), "stdout": result.stdout, "work": work, "env": env}


def test_format_and_duration_match_the_timeline(exported: dict) -> None:
    info = probe(exported["path"])
    stream = info["streams"][0]
    assert info["format"]["format_name"] == "mp3"
    assert stream["codec_name"] == "mp3"
    assert int(stream["sample_rate"]) == 44100
    assert abs(float(info["format"]["duration"]) - exported["timeline"]["duration"]) <= 0.050


def test_speech_starts_on_time_and_gaps_are_silent(exported: dict) -> None:
    samples = decode(exported["path"])
    speech = [e for e in exported["timeline"]["events"] if e["kind"] == "speech"]
    assert len(speech) == 5
    for event in speech:
        start_ms = round(event["start"] * 1000)
        onset = first_loud_ms(samples, start_ms, threshold_db=-40)
        assert onset is not None and onset <= 30, (event["text"], onset)
        # Speech fills its event: most 20 ms windows inside it carry energy.
        windows = window_db(samples[start_ms * 44100 // 1000: round(event["end"] * 1000) * 44100 // 1000])
        assert (windows > -45).mean() > 0.6, event["text"]
    # Between the cues (and before the first) there is silence, 40 ms clear of each edge.
    edges = [(0.0, speech[0]["start"])] + [(a["end"], b["start"]) for a, b in zip(speech, speech[1:])]
    edges.append((speech[-1]["end"], exported["timeline"]["duration"]))
    for quiet_from, quiet_to in edges:
        lo, hi = int((quiet_from + 0.04) * 44100), int((quiet_to - 0.04) * 44100)
        if hi - lo > 882:
            assert window_db(samples[lo:hi]).max() < -60, (quiet_from, quiet_to)


def test_at_cue_starts_exactly_at_its_offset(exported: dict) -> None:
    tl = exported["timeline"]
    rest = next(s for s in tl["steps"] if s["id"] == "rest")
    late = next(e for e in tl["events"] if e.get("text") == "Now slowly come back.")
    assert late["start"] == pytest.approx(rest["start"] + 8.0, abs=0.0005)
    assert rest["end"] >= rest["start"] + 15.0 - 0.0005


def test_loudness_and_true_peak(exported: dict) -> None:
    measured = ebur128(exported["path"], dualmono=True)  # a voice-only file is mono: heard on two ears
    assert abs(measured.integrated - (-16.0)) <= 1.0, measured
    assert measured.true_peak <= -1.0, measured
    assert abs(ebur128(exported["path"]).integrated - (-19.0)) <= 1.0  # plain BS.1770: 3 dB less


def test_tags(exported: dict) -> None:
    tags = {k.lower(): v for k, v in probe(exported["path"])["format"].get("tags", {}).items()}
    assert tags["title"] == "Small Test Session"
    assert tags["artist"] == "Test Author"
    assert tags["album"] == "legsup-audio"


def test_second_export_reuses_the_clip_cache(exported: dict) -> None:
    cache = Path(exported["env"]["LEGSUP_CACHE_DIR"])
    clips = sorted(cache.rglob("*.wav"))
    assert len(clips) == 5  # one per distinct text
    before = {p: p.stat().st_mtime_ns for p in clips}
    again = exported["work"] / "again.mp3"
    result = run_legsup("export", str(exported["work"] / "small.yaml"), "-o", str(again),
                        env=exported["env"], cwd=exported["work"])
    assert result.returncode == 0, result.stderr
    assert {p: p.stat().st_mtime_ns for p in sorted(cache.rglob("*.wav"))} == before
    assert abs(float(probe(again)["format"]["duration"]) - float(probe(exported["path"])["format"]["duration"])) < 0.001


def test_the_default_session_is_12_to_15_minutes(tmp_path: Path) -> None:
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    result = run_legsup("timeline", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tl = json.loads(result.stdout)
    assert 12 * 60 <= tl["duration"] <= 15 * 60
    titles = " ".join(s["title"].lower() for s in tl["steps"])
    for topic in ("floor", "breath", "arms", "ball"):
        assert topic in titles, topic
