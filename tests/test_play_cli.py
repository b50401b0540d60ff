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
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from terminal_checks import TTY_DRIVER

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
    assert result.stderr.strip() == ("no step 'secnd' (did you mean 'second'?); this session has 2 steps: first, "
                                     "second; give a step id or a number from 1 to 2")
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
    child = pexpect.spawn(sys.executable, ["-c", TTY_DRIVER, *work["legsup"], "play", "play.yaml"], cwd=str(work["tmp"]),
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


LONG_SCRIPT = """\
title: Long Play Test
lead_in: 1s
tail: 2s
background:
  drone: {note: A2, level: -34dB}
  noise: {color: pink, level: -40dB}
  bells: {at: steps, level: -24dB}
steps:
  - title: Settle
    id: settle
    duration: 40s
    cues:
      - Let the floor take your weight.
      - at: 20s
        say: Breathe out slowly.
  - title: Rest
    id: rest
    duration: 45s
    cues:
      - Stay here and rest.
"""

#: How many times faster than real time the paced sink takes samples.
PACE = 40


def paced_capture(fifo: Path, channels: int, rate: int = 44100) -> tuple[threading.Thread, list[bytes]]:
    """Read the FIFO at ``PACE`` times real time until the device closes it."""
    got: list[bytes] = []
    piece = rate * channels * 2 // 20  # 50 ms of audio per read

    def drain() -> None:
        with open(fifo, "rb", buffering=0) as f:  # blocks until the device opens it
            while True:
                t = time.monotonic()
                chunk = f.read(piece)
                if not chunk:
                    return
                got.append(chunk)
                time.sleep(max(0.0, 0.05 / PACE - (time.monotonic() - t)))

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return thread, got


def test_a_long_session_plays_exactly_while_it_is_still_being_read(work: dict) -> None:
    """The device starts before the whole session is rendered; a clocked device still gets every sample right."""
    tmp, env = work["tmp"], work["env"]
    (tmp / "long.yaml").write_text(LONG_SCRIPT, encoding="utf-8")
    subprocess.run([*work["legsup"], "export", "long.yaml", "--format", "wav", "-o", "long.wav"], cwd=tmp, env=env,
                   check=True, capture_output=True, timeout=300)
    _, channels, ref = frames_of(tmp / "long.wav")
    assert ref.shape[0] > 80 * 44100 * channels  # longer than the player's lead: it is read while it plays
    fifo = tmp / "long.fifo"
    os.mkfifo(fifo)
    reader, got = paced_capture(fifo, channels)
    env = {**env, "ALSA_CONFIG_PATH": str(ALSA / "paced.conf"), "LEGSUP_CAPTURE_FIFO": str(fifo)}
    result = subprocess.run([*work["legsup"], "play", "long.yaml"], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=180)
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    sent = np.frombuffer(b"".join(got), dtype="<i2")
    assert sent.shape[0] >= ref.shape[0]
    assert np.array_equal(sent[: ref.shape[0]], ref)
    assert not sent[ref.shape[0]:].any()
