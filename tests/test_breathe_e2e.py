"""End to end: a counted 4-7-8 cadence spoken by the real espeak-ng voice, exported by a
real ``legsup`` subprocess, decoded by ffmpeg, and checked against the clock.

Every count ("Breathe in", "two", "three", ... "Hold", ... "And out", ...) is due on a
whole second of its phase; in the decoded MP3 each one must become audible within
30 ms of that second, after silence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from audio_checks import decode, first_loud_ms, probe, window_db

pytestmark = pytest.mark.e2e

SCRIPT = """\
title: Counted Breathing
lead_in: 1s
tail: 2s
steps:
  - title: Four seven eight
    id: breathe
    breathe:
      pattern: 4-7-8
      cycles: 4
      guide: count
"""

RATE = 44100


def run_legsup(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("breathe-e2e")
    script = work / "counted.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(work / "cache")}
    out = work / "counted.mp3"
    result = run_legsup("export", str(script), "-o", str(out), env=env, cwd=work)
    assert result.returncode == 0, result.stderr
    timeline = run_legsup("timeline", str(script), "--json", env=env, cwd=work)
    assert timeline.returncode == 0, timeline.stderr
    return {"path": out, "timeline": json.loads(timeline.stdout)}


def test_the_block_is_four_cycles_of_19_seconds(exported: dict) -> None:
    tl = exported["timeline"]
    phases = [e for e in tl["events"] if e["kind"] in ("inhale", "hold", "exhale", "hold_out")]
    assert [(e["kind"], round(e["end"] - e["start"], 3)) for e in phases] == [
        ("inhale", 4.0), ("hold", 7.0), ("exhale", 8.0)] * 4
    assert phases[0]["start"] == 1.0 and phases[-1]["end"] == 77.0
    assert tl["duration"] == 79.0
    assert abs(float(probe(exported["path"])["format"]["duration"]) - 79.0) <= 0.05


def test_every_count_starts_on_its_second(exported: dict) -> None:
    tl = exported["timeline"]
    speech = [e for e in tl["events"] if e["kind"] == "speech"]
    words = ["Breathe in", "two", "three", "four",
             "Hold", "two", "three", "four", "five", "six", "seven",
             "And out", "two", "three", "four", "five", "six", "seven", "eight"]
    assert [e["text"] for e in speech] == words * 4
    samples = decode(exported["path"])
    block_start_ms = 1000
    for i, event in enumerate(speech):
        start_ms = round(event["start"] * 1000)
        assert (start_ms - block_start_ms) % 1000 == 0, event  # due on a whole second of the block
        assert round(event["end"] * 1000) < start_ms + 1000  # and said before the next is due
        onset = first_loud_ms(samples, start_ms, threshold_db=-40)
        assert onset is not None and onset <= 30, (i, event["text"], event["start"], onset)
        # Not early either: the 20 ms before the second is silent.
        before = samples[(start_ms - 25) * RATE // 1000 : (start_ms - 5) * RATE // 1000]
        assert window_db(before).max() < -50, (i, event["text"], event["start"])
