"""Tests of live playback: the player seam, step navigation, the session driver, the display.

The real path is tested without a sound card: ALSA is pointed at a file sink
(``tests/alsa/capture.conf``) that writes whatever reaches the device into WAV files,
so the tests can compare what was "heard" with the source, byte for byte.  Those runs
happen in subprocesses so that ALSA reads its configuration fresh.  The interactive
display runs in a pseudo-terminal through pexpect.

What the file sink writes (observed with alsa-lib on Debian 12): a canonical 44-byte
RIFF/WAVE header (PCM, 16-bit, the source's rate and channels, data chunk at byte 36
with the right size), then exactly the frames handed to ``play_buffer``: no leading
silence and no trailing padding.  The tests still only require the source to be an
exact prefix and any trailing bytes to be silence, in case another alsa-lib pads to a
period.  The sink runs much faster than real time, so a buffer is fully written long
before the clock says it has been heard.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from legsup_audio.errors import PlaybackError
from legsup_audio.playback import (
    EXIT_INTERRUPTED,
    FakeClock,
    MemoryPlayer,
    SimpleaudioPlayer,
    next_step_start,
    play_session,
    prev_step_start,
)
from legsup_audio.playback.position import SessionControl, current_cue, current_step
from legsup_audio.playback.session import progress_lines
from legsup_audio.units import format_clock
from legsup_audio.compile.timeline import Event, StepSpan, Timeline

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CAPTURE_CONF = TESTS / "alsa" / "capture.conf"
MISSING_CONF = TESTS / "alsa" / "missing.conf"
RATE = 44100


# --- a synthetic session -------------------------------------------------------------


class SegmentSource:
    """Sines of a different pitch per segment, plus a slow ramp so frames differ.

    Samples are computed on each ``read`` (like a streaming renderer would).
    """

    def __init__(self, seconds: float, channels: int = 1, rate: int = RATE) -> None:
        self.rate = rate
        self.channels = channels
        self.total = int(seconds * rate)
        self.frames_read = 0  # each frame should be read once, however often it is played

    def read(self, start: int, n: int) -> np.ndarray:
        self.frames_read += n
        idx = np.arange(start, start + n, dtype=np.int64)
        freq = 220.0 + 110.0 * (idx // self.rate)  # a new pitch every second
        left = 9000.0 * np.sin(2 * np.pi * freq * idx / self.rate) + (idx % 2000) - 1000
        cols = [left]
        if self.channels == 2:
            cols.append(-0.5 * left + 7)
        return np.stack(cols, axis=1).round().astype(np.int16)

    def all(self) -> np.ndarray:
        frames_read = self.frames_read
        whole = self.read(0, self.total)
        self.frames_read = frames_read  # the test's own reference read does not count
        return whole


def make_timeline(total_ms: int = 20_000) -> Timeline:
    """Three steps after a 1 s lead-in, two spoken cues each, a tail to ``total_ms``."""
    steps = (
        StepSpan("arrive", "Arriving", 1000, 7000, 3),
        StepSpan("breathe", "Breathing", 7000, 13000, 8),
        StepSpan("rest", "Resting", 13000, 19000, 13),
    )
    events = (
        Event("speech", 1000, 2500, "arrive", 4, "Lie down beside the wall."),
        Event("speech", 4000, 5500, "arrive", 5, "Let your legs rest up high."),
        Event("bell", 7000, 7500, "breathe", 8),
        Event("speech", 7000, 8800, "breathe", 9, "Breathe in slowly."),
        Event("inhale", 9000, 13000, "breathe", 10),
        Event("speech", 10000, 11500, "breathe", 11, "And out, softly."),
        Event("speech", 13000, 14500, "rest", 14, "Now simply rest."),
        Event("speech", 16000, 17500, "rest", 15, "Stay as long as you like."),
    )
    return Timeline("Test Session", total_ms, steps, events)


def frame(ms: int) -> int:
    return ms * RATE // 1000


# --- running the real ALSA path in a subprocess ---------------------------------------

DRIVER_PRELUDE = f"""
import os, sys, time
sys.path.insert(0, {str(TESTS)!r})
sys.path.insert(0, {str(REPO)!r})
from test_playback import SegmentSource, make_timeline
from legsup_audio.errors import PlaybackError
from legsup_audio.playback import SimpleaudioPlayer, play_session
"""


def alsa_env(conf: Path, capture: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = str(conf)
    if capture is not None:
        env["LEGSUP_CAPTURE_FILE"] = str(capture)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def run_driver(
    tmp_path: Path, body: str, conf: Path = CAPTURE_CONF, timeout: float = 30
) -> tuple[subprocess.CompletedProcess[str], Path]:
    capture = tmp_path / "cap.wav"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER_PRELUDE + textwrap.dedent(body))
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=alsa_env(conf, capture),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc, capture


def read_capture(path: Path, channels: int) -> bytes:
    """The PCM bytes of one captured WAV, after checking its 44-byte header."""
    raw = path.read_bytes()
    assert raw[0:4] == b"RIFF" and raw[8:16] == b"WAVEfmt "
    fmt_size, fmt_tag, ch, rate, _, align, bits = struct.unpack("<IHHIIHH", raw[16:36])
    assert (fmt_size, fmt_tag, ch, rate, align, bits) == (16, 1, channels, RATE, 2 * channels, 16)
    assert raw[36:40] == b"data"
    (size,) = struct.unpack("<I", raw[40:44])
    data = raw[44:]
    assert size == len(data), "the data chunk size matches the bytes written"
    return data


def assert_plays(captured: bytes, expected: np.ndarray) -> None:
    """``captured`` starts with exactly ``expected``; anything after it is silence."""
    want = np.ascontiguousarray(expected, dtype=np.int16).tobytes()
    assert len(captured) >= len(want), f"captured {len(captured)} bytes, expected {len(want)}"
    got = captured[: len(want)]
    if got != want:
        a = np.frombuffer(got, np.int16)
        b = np.frombuffer(want, np.int16)
        first = int(np.nonzero(a != b)[0][0])
        raise AssertionError(f"captured audio differs from the source at sample {first}")
    assert not any(captured[len(want) :]), "trailing padding is silence"


# --- the real device path: ALSA file sink ---------------------------------------------


def test_session_through_alsa_file_sink_is_the_source_sample_for_sample(tmp_path: Path) -> None:
    proc, capture = run_driver(
        tmp_path,
        """
        source = SegmentSource(1.5)
        timeline = make_timeline(1500)
        player = SimpleaudioPlayer()
        t = time.monotonic()
        rc = play_session(timeline, source, player=player, interactive=False)
        print("RC", rc, "TOOK", round(time.monotonic() - t, 2))
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert "RC 0" in proc.stdout
    took = float(proc.stdout.split("TOOK")[1])
    assert 1.4 <= took < 5, "the session lasts as long as its audio"
    assert proc.stderr == ""
    assert sorted(p.name for p in tmp_path.glob("cap.wav*")) == ["cap.wav"], "one device open"
    assert_plays(read_capture(capture, 1), SegmentSource(1.5).all())
    # the plain progress lines for what was played (the step starting at 1 s, its cue)
    assert "[00:01] Arriving\n[00:01] Arriving — Lie down beside the wall." in proc.stdout


def test_stereo_seek_and_resume_reach_the_device_at_exact_frames(tmp_path: Path) -> None:
    proc, capture = run_driver(
        tmp_path,
        """
        source = SegmentSource(3.0, channels=2)
        player = SimpleaudioPlayer()
        player.play(source, 44100)           # start one second in
        time.sleep(0.3)
        player.pause()
        paused = player.position()
        print("PAUSED", paused)
        time.sleep(0.05)
        player.resume()                      # a second device open: cap.wav.0001
        time.sleep(0.1)
        player.seek(100000)                  # a third: cap.wav.0002
        player.wait_device()
        player.stop()
        print("READS", source.frames_read, source.total)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    paused = int(proc.stdout.split("PAUSED")[1].split()[0])
    # the clock says about 0.3 s were heard after the start at frame 44100
    assert 44100 + 0.25 * RATE <= paused <= 44100 + 1.0 * RATE
    read, total = map(int, proc.stdout.split("READS")[1].split()[:2])
    assert read == total, "every frame is read once; pause, resume and seek slice what was read"
    src = SegmentSource(3.0, channels=2).all()
    names = sorted(p.name for p in tmp_path.glob("cap.wav*"))
    assert names == ["cap.wav", "cap.wav.0001", "cap.wav.0002"]
    # The sink writes faster than real time, so the first file holds all of the rest;
    # a real card would have been cut at the pause.  It must start at the seek frame.
    assert_plays(read_capture(capture, 2), src[44100:])
    assert_plays(read_capture(tmp_path / "cap.wav.0001", 2), src[paused:])
    assert_plays(read_capture(tmp_path / "cap.wav.0002", 2), src[100000:])


def test_missing_device_is_one_clear_line_and_no_alsa_noise(tmp_path: Path) -> None:
    # Sanity check: this config really makes alsa-lib print noise when opened raw.
    raw, _ = run_driver(
        tmp_path,
        """
        import simpleaudio
        try:
            simpleaudio.play_buffer(b"\\0\\0" * 100, 1, 2, 44100)
        except Exception as exc:
            print(type(exc).__name__)
        """,
        conf=MISSING_CONF,
    )
    assert "SimpleaudioError" in raw.stdout
    assert "ALSA lib" in raw.stderr

    proc, _ = run_driver(
        tmp_path,
        """
        player = SimpleaudioPlayer()
        try:
            player.play(SegmentSource(0.5), 0)
        except PlaybackError as exc:
            print("ERROR", exc)
        sys.stderr.write("stderr still works\\n")
        """,
        conf=MISSING_CONF,
    )
    assert proc.returncode == 0
    assert proc.stdout == (
        "ERROR no sound device could be opened (Error opening PCM device: No such device); "
        "use `legsup export` to make a file instead\n"
    )
    assert proc.stderr == "stderr still works\n", "no ALSA noise, and fd 2 is restored"


def test_missing_simpleaudio_module_is_a_playback_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "simpleaudio", None)
    with pytest.raises(PlaybackError) as info:
        SimpleaudioPlayer().play(SegmentSource(0.1), 0)
    message = str(info.value)
    assert message.startswith("no sound device could be opened (simpleaudio is not installed")
    assert message.endswith("use `legsup export` to make a file instead")
    assert "\n" not in message


# --- the player seam with MemoryPlayer ------------------------------------------------


def test_memory_player_pause_resume_continue_at_the_paused_frame() -> None:
    clock = FakeClock()
    source = SegmentSource(5.0)
    player = MemoryPlayer(clock)
    player.play(source, frame(500))
    assert player.is_playing() and not player.finished()
    clock.advance(1.25)
    assert player.position() == frame(500) + int(1.25 * RATE)
    player.pause()
    paused = player.position()
    assert paused == frame(1750)
    assert not player.is_playing()
    clock.advance(10.0)  # time passes while paused; the position stays
    assert player.position() == paused
    player.resume()
    assert player.plays[-1].start == paused
    clock.advance(1.0)
    player.seek(frame(4000))
    clock.advance(2.0)
    assert player.position() == source.total and player.finished()
    assert source.frames_read == source.total, "every frame is read once; pause and seek slice what was read"

    src = source.all()
    assert [p.start for p in player.plays] == [frame(500), paused, frame(4000)]
    first, second, third = player.plays
    assert np.array_equal(first.played, src[frame(500) : paused])
    assert np.array_equal(second.played, src[paused : paused + RATE])
    assert np.array_equal(third.data, src[frame(4000) :])
    # heard without a gap or a repeat across the pause
    heard = np.concatenate([first.played, second.played])
    assert np.array_equal(heard, src[frame(500) : paused + RATE])


def test_memory_player_seek_while_paused_stays_paused_and_clamps() -> None:
    clock = FakeClock()
    player = MemoryPlayer(clock)
    player.play(SegmentSource(2.0), 0)
    player.pause()
    player.seek(10**9)
    assert player.position() == player.total and not player.is_playing()
    player.seek(-5)
    assert player.position() == 0
    assert len(player.plays) == 1
    player.resume()
    assert player.plays[-1].start == 0


def test_memory_player_without_clock_plays_instantly() -> None:
    player = MemoryPlayer()
    source = SegmentSource(1.0)
    player.play(source, 1000)
    assert player.finished() and player.position() == source.total
    assert np.array_equal(player.plays[0].data, source.all()[1000:])


# --- timeline helpers -----------------------------------------------------------------


def test_step_navigation_helpers() -> None:
    tl = make_timeline()
    # next: the first step starting after the position; None in the last step
    assert next_step_start(tl, 0) == 1000
    assert next_step_start(tl, 1000) == 7000
    assert next_step_start(tl, 6999) == 7000
    assert next_step_start(tl, 12_000) == 13000
    assert next_step_start(tl, 13_000) is None
    assert next_step_start(tl, 19_500) is None
    # previous: the current step's start, or the one before within 2 s of it
    assert prev_step_start(tl, 500) == 0  # lead-in
    assert prev_step_start(tl, 1500) == 1000  # first step: nothing before it
    assert prev_step_start(tl, 5000) == 1000
    assert prev_step_start(tl, 7000) == 1000
    assert prev_step_start(tl, 8999) == 1000
    assert prev_step_start(tl, 9000) == 7000
    assert prev_step_start(tl, 13_500) == 7000
    assert prev_step_start(tl, 19_500) == 13000  # in the tail: the last step
    # what the display shows
    assert current_step(tl, 999) is None
    assert current_step(tl, 7000).id == "breathe"  # type: ignore[union-attr]
    assert current_cue(tl, 999) is None
    assert current_cue(tl, 9500).text == "Breathe in slowly."  # type: ignore[union-attr]
    assert current_cue(tl, 19_999).text == "Stay as long as you like."  # type: ignore[union-attr]
    assert format_clock(133_999) == "02:13" and format_clock(3_725_000) == "1:02:05"


# --- the session driver ---------------------------------------------------------------


def test_plain_session_prints_steps_and_cues_and_starts_where_asked() -> None:
    tl = make_timeline()
    source = SegmentSource(20.0)
    player = MemoryPlayer()
    out = io.StringIO()
    rc = play_session(tl, source, player=player, start_ms=7000, interactive=False, out=out)
    assert rc == 0
    assert player.plays[0].start == frame(7000)
    assert out.getvalue().splitlines() == [
        "Test Session (00:20)",
        "[00:07] Breathing",
        "[00:07] Breathing — Breathe in slowly.",
        "[00:10] Breathing — And out, softly.",
        "[00:13] Resting",
        "[00:13] Resting — Now simply rest.",
        "[00:16] Resting — Stay as long as you like.",
        "[00:20] Finished.",
    ]
    assert progress_lines(tl, 0, 1000) == [
        "[00:01] Arriving",
        "[00:01] Arriving — Lie down beside the wall.",
    ]


def test_ctrl_c_stops_the_sound_and_returns_130() -> None:
    class Interrupting(MemoryPlayer):
        calls = 0

        def finished(self) -> bool:
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().finished()

    clock = FakeClock()
    player = Interrupting(clock)
    rc = play_session(
        make_timeline(), SegmentSource(20.0), player=player, interactive=False, out=io.StringIO()
    )
    assert rc == EXIT_INTERRUPTED == 130
    assert not player.is_playing()
    assert player.plays[0].stopped_at is not None


def test_keys_navigate_steps_pause_and_end() -> None:
    clock = FakeClock()
    player = MemoryPlayer(clock)
    control = SessionControl(make_timeline(), SegmentSource(20.0), player)
    control.start(0)
    clock.advance(8.5)  # 1.5 s into "Breathing"
    control.handle_key("p")
    assert control.position_ms() == 1000, "p near a step's start goes to the previous step"
    clock.advance(3.0)
    control.handle_key("p")
    assert control.position_ms() == 1000, "p later in a step goes to its start"
    control.handle_key("n")
    assert control.position_ms() == 7000
    control.handle_key(" ")
    assert control.paused and not player.is_playing()
    clock.advance(5.0)
    control.handle_key("n")  # navigating while paused stays paused
    assert control.position_ms() == 13000 and not player.is_playing()
    control.handle_key(" ")
    assert player.is_playing() and player.plays[-1].start == frame(13000)
    control.handle_key("n")  # in the last step: to the end
    assert player.finished() and control.finished()
    assert [p.start for p in player.plays] == [
        0,
        frame(1000),
        frame(1000),
        frame(7000),
        frame(13000),
    ]
    control.handle_key("q")
    assert control.quit


def test_a_device_error_propagates_and_the_sound_is_stopped() -> None:
    class Broken(MemoryPlayer):
        def _start_device(self, frame: int) -> None:
            raise PlaybackError("no sound device could be opened (test)")

    out = io.StringIO()
    with pytest.raises(PlaybackError):
        play_session(
            make_timeline(), SegmentSource(1.0), player=Broken(), interactive=False, out=out
        )
    assert out.getvalue() == "", "nothing printed before the error line"


# --- the interactive display in a pseudo-terminal -------------------------------------

INTERACTIVE_DRIVER = (
    DRIVER_PRELUDE
    + """
import termios
before = termios.tcgetattr(0)
rc = play_session(make_timeline(), SegmentSource(20.0), player=SimpleaudioPlayer(),
                  start_ms=0, interactive=True)
after = termios.tcgetattr(0)
print("RESTORED", before == after, "RC", rc, flush=True)
sys.exit(rc)
"""
)


def spawn_interactive(tmp_path: Path):  # type: ignore[no-untyped-def]
    import pexpect  # a test dependency: never skipped
    script = tmp_path / "interactive.py"
    script.write_text(INTERACTIVE_DRIVER)
    child = pexpect.spawn(
        sys.executable,
        [str(script)],
        env=alsa_env(CAPTURE_CONF, tmp_path / "cap.wav"),
        dimensions=(30, 90),
        encoding="utf-8",
        timeout=10,
    )
    return child


def test_interactive_display_keys_and_quit_restore_the_terminal(tmp_path: Path) -> None:
    child = spawn_interactive(tmp_path)
    try:
        child.expect("Test Session")
        child.expect("Arriving")
        child.expect("Lie down beside the wall.")
        child.expect("space pause · n next · p previous · q quit")
        child.send("n")
        child.expect("Breathing")
        child.expect("Breathe in slowly.")
        child.send(" ")
        child.expect("paused")
        child.expect("space resume")
        child.send(" ")
        child.expect("playing")
        child.send("q")
        child.expect_exact("\x1b[?25h")  # the cursor is shown again
        child.expect("RESTORED True RC 0")
        child.expect(pexpect_eof())
    finally:
        child.close()
    assert child.exitstatus == 0
    # `n` reopened the device exactly at the second step's first frame
    src = SegmentSource(20.0).all()
    assert_plays(read_capture(tmp_path / "cap.wav", 1), src)
    assert_plays(read_capture(tmp_path / "cap.wav.0001", 1), src[frame(7000) :])
    assert (tmp_path / "cap.wav.0002").exists(), "resume after pause reopened the device"


def test_interactive_ctrl_c_returns_130_and_restores_the_terminal(tmp_path: Path) -> None:
    child = spawn_interactive(tmp_path)
    try:
        child.expect("Lie down beside the wall.")
        time.sleep(0.2)
        child.sendintr()
        child.expect("RESTORED True RC 130")
        child.expect(pexpect_eof())
    finally:
        child.close()
    assert child.exitstatus == 130


def pexpect_eof():  # type: ignore[no-untyped-def]
    import pexpect  # type: ignore[import-untyped,unused-ignore]

    return pexpect.EOF


# --- reading the session while it plays ----------------------------------------------------


class GatedSource(SegmentSource):
    """Blocks from ``gate_s`` on wait for ``gate`` (a reader that falls behind); ``fail_s`` raises."""

    def __init__(self, seconds: float, gate_s: float, fail_s: float | None = None) -> None:
        import threading

        super().__init__(seconds)
        self.gate = threading.Event()
        self.gate_frame = int(gate_s * RATE)
        self.fail_frame = None if fail_s is None else int(fail_s * RATE)

    def read(self, start: int, n: int) -> np.ndarray:
        if self.fail_frame is not None and start + n > self.fail_frame:
            raise PlaybackError("the renderer failed")
        if start + n > self.gate_frame:
            assert self.gate.wait(10)
        return super().read(start, n)


class ClockedRecorder(MemoryPlayer):
    """A recording device that takes samples in real time (on a fake clock), like a card."""

    def _lead(self, frame: int) -> int:
        from legsup_audio.playback.player import LEAD_FRAMES

        return LEAD_FRAMES


def test_the_device_starts_before_the_session_is_read_and_waits_for_a_slow_reader() -> None:
    import threading

    source = GatedSource(40.0, gate_s=32.0)
    clock = FakeClock()
    player = ClockedRecorder(clock=clock)
    player.play(source, 0)  # starts once the first 30 s are read, while 32 s onwards are not
    assert [p.start for p in player.plays] == [0]
    clock.advance(31.8)  # the device is 0.2 s from what has not been read
    threading.Timer(0.2, source.gate.set).start()
    heard = player.position()  # the guard stops the device and starts it again at the same frame
    assert heard == int(31.8 * RATE)
    assert [p.start for p in player.plays] == [0, heard]
    assert player.plays[0].stopped_at == heard
    player.close()
    whole = source.all()
    assert np.array_equal(player.plays[0].played, whole[:heard])
    assert np.array_equal(player.plays[1].data, whole[heard:])  # no gap, no repeat, no unread silence


def test_a_reader_that_fails_silences_the_device_then_reports() -> None:
    source = GatedSource(40.0, gate_s=99.0, fail_s=34.0)
    clock = FakeClock()
    player = ClockedRecorder(clock=clock)
    player.play(source, 0)
    clock.advance(33.8)
    with pytest.raises(PlaybackError, match="the renderer failed"):
        player.position()
    assert player.plays[-1].stopped_at is not None  # the sound was stopped first
    player.stop()  # and stopping again is quiet
    player.close()


def test_a_closed_player_reads_afresh_and_never_waits_forever() -> None:
    source = SegmentSource(3.0)
    player = MemoryPlayer()
    player.play(source, 0)
    player.close()
    player.play(source, 0)  # a new reader: not the closed one
    assert np.array_equal(player.plays[-1].data, source.all())
    player.close()
