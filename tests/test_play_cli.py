"""``legsup play`` end to end: real espeak-ng, real simpleaudio, real ALSA (a file sink).

ALSA is pointed at the file sink of ``tests/alsa/capture.conf``, so everything the
command sends to "the sound card" lands in a WAV file that is compared, frame for
frame, with what ``legsup export --format wav`` renders for the same script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

ALSA = Path(__file__).parent / "alsa"
SCRIPT = """\
title: Play Test
lead_in: 0.5s
tail: 1s
gap: 0.5s
steps:
  - title: First step
    id: first
    cues:
      - Hello, and welcome.
  - title: Second step
    id: second
    cues:
      - Breathe in slowly.
      - pause: 1s
      - And rest.
"""


def frames_of(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("play")
    (tmp / "play.yaml").write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp / "cache"), "ALSA_CONFIG_PATH": str(ALSA / "capture.conf")}
    legsup = [sys.executable, "-m", "legsup_audio"]
    subprocess.run([*legsup, "export", "play.yaml", "--format", "wav", "-o", "ref.wav"], cwd=tmp, env=env,
                   check=True, capture_output=True, timeout=300)
    tl = json.loads(subprocess.run([*legsup, "timeline", "play.yaml", "--json"], cwd=tmp, env=env, check=True,
                                   capture_output=True, text=True, timeout=300).stdout)
    return {"tmp": tmp, "env": env, "legsup": legsup, "timeline": tl}


def play(work: dict, name: str, *args: str, config: str = "capture.conf") -> tuple[subprocess.CompletedProcess[str], Path]:
    capture = work["tmp"] / f"{name}.wav"
    env = {**work["env"], "LEGSUP_CAPTURE_FILE": str(capture), "ALSA_CONFIG_PATH": str(ALSA / config)}
    result = subprocess.run([*work["legsup"], "play", "play.yaml", *args], cwd=work["tmp"], env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    return result, capture


def test_play_sends_exactly_what_export_renders(work: dict) -> None:
    result, capture = play(work, "whole")
    assert result.returncode == 0, result.stderr
    rate, channels, sent = frames_of(capture)
    ref_rate, ref_channels, ref = frames_of(work["tmp"] / "ref.wav")
    assert (rate, channels) == (ref_rate, ref_channels) == (44100, 1)
    assert sent.shape[0] >= ref.shape[0]
    assert np.array_equal(sent[: ref.shape[0]], ref)
    assert not sent[ref.shape[0]:].any()  # anything after the session is silence
    # Without a terminal, plain progress lines: the steps and the cues.
    assert "Second step" in result.stdout and "Breathe in slowly." in result.stdout


def test_play_from_a_step_starts_exactly_at_that_step(work: dict) -> None:
    result, capture = play(work, "from", "--from", "second")
    assert result.returncode == 0, result.stderr
    _, _, sent = frames_of(capture)
    _, _, ref = frames_of(work["tmp"] / "ref.wav")
    second = next(s for s in work["timeline"]["steps"] if s["id"] == "second")
    start = round(second["start"] * 1000) * 44100 // 1000
    assert np.array_equal(sent[: ref.shape[0] - start], ref[start:])
    assert "First step" not in result.stdout.split("Second step", 1)[-1]


def test_unknown_step_is_a_usage_error(work: dict) -> None:
    result, capture = play(work, "bad", "--from", "secnd")
    assert result.returncode == 2
    assert result.stderr.strip() == "no step 'secnd' (did you mean 'second'?); steps: first, second"
    assert not capture.exists()


def test_no_sound_device_is_one_clear_line(work: dict) -> None:
    result, _ = play(work, "none", config="missing.conf")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "ALSA lib" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no sound device" in lines[0] and "legsup export" in lines[0]


def test_the_display_in_a_terminal_shows_the_cue_and_q_quits(work: dict) -> None:
    import pexpect

    capture = work["tmp"] / "tty.wav"
    env = {**work["env"], "LEGSUP_CAPTURE_FILE": str(capture), "TERM": "xterm", "COLUMNS": "100", "LINES": "30"}
    driver = (
        "import subprocess, sys, termios\n"
        "before = termios.tcgetattr(0)\n"
        "code = subprocess.call(sys.argv[1:])\n"
        "after = termios.tcgetattr(0)\n"
        "print('EXIT', code, 'RESTORED' if before == after else 'CHANGED')\n"
    )
    child = pexpect.spawn(sys.executable, ["-c", driver, *work["legsup"], "play", "play.yaml"], cwd=str(work["tmp"]),
                          env=env, encoding="utf-8", timeout=60, dimensions=(30, 100))
    try:
        child.expect("Play Test")
        child.expect("Hello, and welcome.")
        child.expect("First step")
        child.send("q")
        child.expect(r"EXIT (\d+) (RESTORED|CHANGED)")
        assert child.match.group(1) == "0"
        assert child.match.group(2) == "RESTORED"
    finally:
        child.close(force=True)
