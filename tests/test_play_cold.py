"""``legsup play`` on a script it has never heard: the sound starts while the rest is spoken.

Real Piper voice, a fresh clip cache, real simpleaudio and ALSA.  The device is the file
sink of ``tests/alsa/paced.conf`` (as in ``test_play_cli``): it writes into a FIFO that the
test drains in real time for its first seconds and then at ``PACE`` times real time, as a
sound card's clock would take the samples (only faster, to keep the test short).
``capture.conf``'s sink takes a whole buffer at once, faster than any card, so it would
read past what is spoken; that is why a paced sink is used for a session still being made.
What it captured is compared sample for sample with ``legsup export --format wav`` of the
same session, made afterwards from the clips the play spoke.  That the sound began before
the speech was done is read from the files: the first captured samples came before the
last clip was written to the cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from test_interrupts import group_members

ALSA = Path(__file__).parent / "alsa"
LEGSUP = [sys.executable, "-m", "legsup_audio"]
#: How many times faster than real time the sink takes samples once the session is under
#: way.  Cold speech runs ahead of the sound by 8 to 40 times real time here (the slower
#: with other work on both cores), and a sink faster than speech would be a card playing
#: what is not spoken yet.
PACE = 6
#: The first seconds are taken in real time, as a card takes them: the player starts the
#: device once 10 s are spoken (``SPOKEN_LEAD_FRAMES``) and counts on hearing them taking
#: 10 s, while the voice speaks on.  Its guard against falling behind follows its own clock
#: (real time), so a sink at ``PACE`` from the first sample would outrun a voice that a
#: real card never could (CI once read zeros at 10.0 s that way).
REAL_TIME_S = 12
RATE = 44100

BED_SCRIPT = """\
title: Cold Bed Test
lead_in: 1s
tail: 2s
gap: 1s
background:
  drone: {note: A2, level: -30dB}
  noise: {color: pink, level: -36dB}
  bells: {at: steps, level: -20dB}
  fade_in: 3s
  fade_out: 6s
steps:
  - title: Arrive
    id: arrive
    cues:
      - Settle onto the floor and let your breath slow down.
      - Let your shoulders soften away from your ears.
      - Feel the weight of your legs resting against the wall.
  - title: Hold
    id: hold
    duration: 40s
    cues:
      - Rest here, and let the wall do the work for you.
      - at: 36s
        say: In a moment, we will move on.
  - title: Release
    id: release
    cues:
      - Bend your knees and roll gently onto one side.
      - Stay there for a few slow breaths before you sit up.
      - Thank you for practising with me today.
"""


class PacedSink:
    """Drains the device's FIFO, in real time for ``REAL_TIME_S`` and then at ``PACE`` times
    real time; notes when the first samples came."""

    def __init__(self, fifo: Path, channels: int) -> None:
        os.mkfifo(fifo)
        self.fifo, self.channels = fifo, channels
        self.chunks: list[bytes] = []
        self.first: float | None = None  # time.time() of the first samples
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        piece = RATE * self.channels * 2 // 20  # 50 ms of audio per read
        with open(self.fifo, "rb", buffering=0) as f:  # blocks until the device opens it
            while True:
                t = time.monotonic()
                chunk = f.read(piece)
                if not chunk:
                    return
                if self.first is None:
                    self.first = time.time()
                self.chunks.append(chunk)
                pace = 1 if self.frames() <= REAL_TIME_S * RATE else PACE
                time.sleep(max(0.0, 0.05 / pace - (time.monotonic() - t)))

    def frames(self) -> int:
        return sum(map(len, self.chunks)) // (2 * self.channels)

    def samples(self) -> np.ndarray:
        return np.frombuffer(b"".join(self.chunks), dtype="<i2")


def texts_of(script: str | None, cwd: Path) -> int:
    code = ("import sys; from legsup_audio.pipeline import load; "
            "print(len(load(sys.argv[1] if len(sys.argv) > 1 else None).spoken_texts()))")
    out = subprocess.run([sys.executable, "-c", code, *([script] if script else [])], cwd=cwd, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return int(out)


def play_cold(tmp: Path, script: str | None, channels: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Play ``script`` on a fresh cache through the paced sink to its end; (sent, export, first sound, last clip)."""
    cache = tmp / "cache"
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(cache), "ALSA_CONFIG_PATH": str(ALSA / "paced.conf"),
           "LEGSUP_CAPTURE_FIFO": str(tmp / "sink.fifo")}
    names = [script] if script else []
    wanted = texts_of(script, tmp)
    sink = PacedSink(tmp / "sink.fifo", channels)
    proc = subprocess.Popen([*LEGSUP, "play", *names], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while len(list(cache.rglob("*.wav"))) < wanted:  # every clip spoken
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # The session's length, from the clips the play spoke (a warm cache: nothing is spoken again).
        tl = json.loads(subprocess.run([*LEGSUP, "timeline", *names, "--json"], cwd=tmp, env=env, check=True,
                                       capture_output=True, text=True, timeout=300).stdout)
        frames = round(tl["duration"] * 1000) * RATE // 1000
        while sink.frames() < frames + RATE // 2:  # the whole session, and a little of what follows
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # The player's clock runs in real time, the sink at PACE: stop it as a listener would.
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert group_members(proc.pid) == []  # no speech worker left behind
    sink.thread.join(timeout=30)
    subprocess.run([*LEGSUP, "export", *names, "--format", "wav", "-o", "ref.wav"], cwd=tmp, env=env, check=True,
                   capture_output=True, timeout=600)
    with wave.open(str(tmp / "ref.wav"), "rb") as w:
        assert (w.getframerate(), w.getnchannels()) == (RATE, channels)
        ref = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    last_clip = max(p.stat().st_mtime for p in cache.rglob("*.wav"))
    assert sink.first is not None
    return sink.samples(), ref, sink.first, last_clip


def assert_same(sent: np.ndarray, ref: np.ndarray) -> None:
    assert sent.shape[0] >= ref.shape[0], f"sent {sent.shape[0]} samples, the export has {ref.shape[0]}"
    if not np.array_equal(sent[: ref.shape[0]], ref):
        differ = np.flatnonzero(sent[: ref.shape[0]] != ref)
        zeros = not sent[differ[0] : differ[0] + 4410].any()
        raise AssertionError(f"the played audio differs from the export at sample {differ[0]} of {ref.shape[0]} "
                             f"({differ.size} samples differ{'; silence was sent there' if zeros else ''})")
    assert not sent[ref.shape[0]:].any(), "after the session, silence"


@pytest.mark.e2e
def test_the_default_session_plays_exactly_while_it_is_spoken(tmp_path: Path) -> None:
    sent, ref, first_sound, last_clip = play_cold(tmp_path, None, channels=2)
    assert_same(sent, ref)
    assert first_sound < last_clip, "the sound began before the last clip was spoken"


@pytest.mark.e2e
def test_a_bed_a_fixed_duration_and_a_cue_near_its_end_play_exactly_while_spoken(tmp_path: Path) -> None:
    (tmp_path / "bed.yaml").write_text(BED_SCRIPT, encoding="utf-8")
    sent, ref, first_sound, last_clip = play_cold(tmp_path, "bed.yaml", channels=2)
    assert_same(sent, ref)
    assert first_sound < last_clip, "the sound began before the last clip was spoken"
