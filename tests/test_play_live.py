"""Playing while speaking (``legsup_audio.progressive``): what is final, the player, the command.

With the fake engine (fast): the horizon's claim is checked against the finished session
for generated scripts (beds, bells, fixed durations, ``at`` cues, pauses) and any set of
clips already spoken; a live session played by a recording player gives exactly the
export's samples; the player copes with a length that was only an allowance (shorter or
longer); and ``legsup play`` itself (a subprocess, ALSA's file sink) stops cleanly when a
later text fails, finds a timing error late, or is interrupted while a clip is being spoken.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from legsup_audio.compile.compiler import compile_script
from legsup_audio.compile.timeline import Event
from legsup_audio.errors import ScriptError
from legsup_audio.pipeline import Session, build, load, mastered
from legsup_audio.playback import FakeClock, MemoryPlayer, play_session
from legsup_audio.playback.player import DRAIN_FRAMES
from legsup_audio.progressive import NO_LIMIT_MS, PLACEHOLDER_MS, Horizon, LiveSession, horizon_of
from legsup_audio.render.master import Mastered
from legsup_audio.speech.cache import ClipCache
from legsup_audio.speech.fake import FakeEngine
from legsup_audio.speech.voices import get_profile
from test_interrupts import group_members
from terminal_checks import TTY_DRIVER

RATE = 44100
ALSA = Path(__file__).parent / "alsa"
SENTENCES = [
    "Rest.", "Let the wall hold your legs.", "Breathe in slowly, and let the breath go.",
    "Notice where the stretch is, and soften around it, without changing anything at all.",
    "Stay here.", "Let your hands rest on your belly, and feel them rise and fall with each breath.",
]


# --- the horizon: generated scripts ------------------------------------------------------------


@st.composite
def scripts(draw: st.DrawFn) -> str:
    """A valid-looking cue script: 2-4 steps, cues, pauses, `at`, durations, breaths, maybe a bed."""
    lines = ["title: Generated", f"lead_in: {draw(st.sampled_from(['0.5s', '1s', '2s']))}",
             f"tail: {draw(st.sampled_from(['1s', '3s']))}", f"gap: {draw(st.sampled_from(['0.5s', '1.5s']))}"]
    bed = draw(st.sampled_from(["none", "bells", "full"]))
    if bed != "none":
        lines.append("background:")
        if bed == "full":
            lines += ["  drone: {note: A2, level: -30dB}", "  noise: {color: pink, level: -36dB}",
                      f"  fade_out: {draw(st.sampled_from(['2s', '6s', '10s']))}",
                      f"  fade_in: {draw(st.sampled_from(['1s', '4s']))}"]
        lines.append("  bells: {at: steps, level: -20dB}")
    lines.append("steps:")
    for i in range(draw(st.integers(2, 4))):
        lines += [f"  - title: Step {i}", f"    id: s{i}"]
        if draw(st.booleans()):
            lines.append(f"    duration: {draw(st.integers(4, 40))}s")
        if bed == "full" and draw(st.integers(0, 3)) == 0:
            lines.append("    background: {noise: {color: brown, level: -34dB}}")
        lines.append("    cues:")
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["say", "say", "pause", "at"]))
            if kind == "pause":
                lines.append(f"      - pause: {draw(st.integers(1, 12))}s")
            elif kind == "at":
                lines += [f"      - at: {draw(st.integers(30, 60))}s", f"        say: {draw(st.sampled_from(SENTENCES))}"]
            else:
                lines.append(f"      - {draw(st.sampled_from(SENTENCES))}")
        breath = draw(st.sampled_from(["", "", "words", "tone", "count"]))
        if breath:
            lines.append(f"    breathe: {{pattern: relax, cycles: {draw(st.integers(1, 3))}, guide: {breath}}}")
    return "\n".join(lines) + "\n"


def known_part(event: Event) -> tuple[object, ...]:
    """An event as far as it is known before the session's end is: a bell's event is cut at the
    end (the bell itself rings from its strike, whatever its event's end), the rest is whole."""
    return (event.kind, event.start, event.step, event.line, event.text, event.data,
            None if event.kind == "bell" else event.end)


def final_before_horizon(final: Session, known_texts: set[str], background: bool) -> tuple[Horizon, Mastered, Mastered]:
    """The horizon with ``known_texts`` spoken, checked: the events before the first cue not
    spoken yet, and the samples before its final frame, are the finished session's.
    Returns it with the master of what was known then and the finished session's master."""
    known = {t: final.clips[t] for t in known_texts}
    timeline = compile_script(final.script, lambda t: known[t].duration_ms if t in known else PLACEHOLDER_MS,
                              NO_LIMIT_MS)
    horizon = horizon_of(timeline, known, background, final=False)
    truth = final.timeline
    if horizon.spoken_ms is None:
        assert timeline.steps == truth.steps and list(map(known_part, timeline.events)) == \
               list(map(known_part, truth.events))
    else:
        assert [known_part(e) for e in timeline.events if e.start < horizon.spoken_ms] == \
               [known_part(e) for e in truth.events if e.start < horizon.spoken_ms]
    assert horizon.final_frames <= truth.duration * RATE // 1000
    guess = LiveSession(final.script, final.profile, background=background).mastered_for(horizon)
    exact, _ = mastered(final, background=background)
    # The last 14 s before the horizon (where a later clip could reach back), and the start.
    end = horizon.final_frames
    for a, b in ((max(0, end - 14 * RATE), end), (0, min(end, 2 * RATE))):
        assert np.array_equal(guess.read(a, b - a), exact.read(a, b - a)), (a, b, end)
    return horizon, guess, exact


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=scripts(), data=st.data())
def test_everything_before_the_horizon_is_as_the_finished_session_has_it(
    text: str, data: st.DataObject, fake_workdir: Path
) -> None:
    path = fake_workdir / "gen.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        final = build(path, engine=FakeEngine())
    except ScriptError:
        event("an `at` before the cursor: no session")
        return
    background = data.draw(st.booleans(), label="background")
    known = {t for t in final.clips if data.draw(st.booleans(), label=f"known {t[:12]}")}
    horizon, _, _ = final_before_horizon(final, known, background)
    event("nothing final yet" if horizon.final_frames == 0 else "samples compared")


def reaches_back(guess: Mastered, exact: Mastered, horizon: Horizon) -> bool:
    """Whether what was known then differs from the finished session between the final frame
    and the first cue not yet spoken (so the horizon had to stop short of that cue)."""
    assert horizon.spoken_ms is not None
    a, b = horizon.final_frames, horizon.spoken_ms * RATE // 1000
    return not np.array_equal(guess.read(a, b - a), exact.read(a, b - a))


def test_a_later_clip_moves_an_earlier_crossfade_and_the_horizon_leaves_room_for_it(fake_workdir: Path) -> None:
    """A step's boundary ramp reaches back before the step ends; its last cue is not spoken yet."""
    path = fake_workdir / "x.yaml"
    path.write_text("title: X\nlead_in: 1s\ngap: 0.5s\nbackground:\n  noise: {color: pink, level: -30dB}\nsteps:\n"
                    "  - title: A\n    cues: [Rest., Stay here.]\n"
                    "  - title: B\n    background: 'off'\n    cues: [Let the wall hold your legs.]\n", encoding="utf-8")
    final = build(path, engine=FakeEngine())
    horizon, guess, exact = final_before_horizon(final, {"Rest."}, background=True)
    second = next(e for e in final.timeline.speech() if e.text == "Stay here.")
    assert horizon.spoken_ms == second.start
    assert reaches_back(guess, exact, horizon)
    without, _, _ = final_before_horizon(final, {"Rest."}, background=False)
    assert horizon.final_frames < without.final_frames  # a voice alone reaches back only by the limiter


def test_the_fade_out_of_a_session_whose_last_cue_is_not_spoken_is_held_back(fake_workdir: Path) -> None:
    path = fake_workdir / "x.yaml"
    path.write_text("title: X\nlead_in: 1s\ntail: 1s\nbackground:\n  drone: {note: A2, level: -24dB}\n"
                    "  fade_out: 8s\nsteps:\n  - title: A\n    cues:\n      - Rest.\n      - pause: 10s\n"
                    "      - Notice where the stretch is, and soften around it, without changing anything at all.\n",
                    encoding="utf-8")
    final = build(path, engine=FakeEngine())
    horizon, guess, exact = final_before_horizon(final, {"Rest."}, background=True)
    assert reaches_back(guess, exact, horizon)


# --- a live session, in process --------------------------------------------------------------------

LIVE_SCRIPT = """\
title: Live
lead_in: 1s
gap: 1s
background:
  drone: {note: A2, level: -30dB}
  bells: {at: steps, level: -20dB}
  fade_out: 4s
steps:
  - title: One
    id: one
    duration: 20s
    cues:
      - Let the wall hold your legs.
      - at: 15s
        say: Breathe in slowly, and let the breath go.
  - title: Two
    id: two
    cues:
      - Notice where the stretch is, and soften around it, without changing anything at all.
      - pause: 20s
      - Stay here.
"""


def test_a_live_session_plays_exactly_what_export_renders(fake_workdir: Path) -> None:
    path = fake_workdir / "live.yaml"
    path.write_text(LIVE_SCRIPT, encoding="utf-8")
    script = load(path)
    profile = get_profile(script.voice)
    live = LiveSession(script, profile, cache=ClipCache(fake_workdir / "live-cache"), engine_factory=FakeEngine)
    live.start()
    try:
        player = MemoryPlayer()
        status = play_session(live.timeline, live.source, player=player, interactive=False, out=open(os.devnull, "w"))
    finally:
        live.close()
    assert status == 0
    exact, _ = mastered(build(path, engine=FakeEngine()))
    whole = exact.read(0, exact.total)
    heard = np.concatenate([p.played for p in player.plays])
    assert np.array_equal(heard[: exact.total], whole)
    assert not heard[exact.total:].any()
    assert live.source.exact and live.source.total == exact.total
    assert live.timeline == build(path, engine=FakeEngine()).timeline


# --- the player and a length that was an allowance -------------------------------------------------


class Allowed:
    """A mono source whose length is an allowance until ``settle()``: reads past the data are silence."""

    rate, channels = RATE, 1

    def __init__(self, seconds: float, allowance: float) -> None:
        n = int(seconds * RATE)
        self.data = (np.sin(np.arange(n) * 0.01) * 8000 + np.arange(n) % 97).astype(np.int16)
        self.total = int(allowance * RATE)

    def settle(self) -> None:
        self.total = self.data.shape[0]

    def read(self, start: int, n: int) -> np.ndarray:
        out = np.zeros((n, 1), dtype=np.int16)
        piece = self.data[start : start + n]
        out[: piece.shape[0], 0] = piece
        return out


class Card(MemoryPlayer):
    """A recording player on a clock, like a card: it starts after one second is read, and
    stays busy until its clock reaches the end of the buffer it was given."""

    def _lead(self, frame: int) -> int:
        return RATE

    def _device_busy(self) -> bool:
        return self._running and self._clocked() < self._buffer_end


def wait_read(player: MemoryPlayer, frames: int) -> None:
    assert player._prefetch is not None
    player._prefetch.wait(0, frames)


def test_a_session_shorter_than_its_allowance_ends_where_it_ends() -> None:
    clock, source = FakeClock(), Allowed(6.0, allowance=10.0)
    player = Card(clock)
    player.play(source)
    wait_read(player, source.total)  # the reader keeps ahead, as it does on a real clock
    clock.advance(2.0)
    assert player.position() == 2 * RATE and not player.finished()
    source.settle()
    clock.advance(4.0)
    assert player.position() == source.total  # taken up: the position stops at the real end
    assert not player.finished(), "the device holds the last samples a moment longer"
    clock.advance(DRAIN_FRAMES / RATE)
    assert player.finished()
    wait_read(player, source.total)
    assert len(player.plays) == 1 and np.array_equal(player.plays[0].data[: source.total, 0], source.data)
    assert not player.plays[0].data[source.total:].any()


def test_a_session_longer_than_its_allowance_plays_on_in_a_longer_buffer() -> None:
    clock, source = FakeClock(), Allowed(9.0, allowance=4.0)
    player = Card(clock)
    player.play(source)
    wait_read(player, source.total)
    clock.advance(1.0)
    source.settle()
    assert player.position() == RATE and len(player.plays) == 1  # the old buffer still has 3 s
    clock.advance(2.6)  # half a second before the old buffer runs out
    restart = player.position()
    assert len(player.plays) == 2 and player.plays[1].start == restart
    clock.advance(9.0)
    assert player.position() == source.total and player.finished()
    wait_read(player, source.total)
    first, second = player.plays
    heard = np.concatenate([first.played[:, 0], second.data[:, 0]])
    assert np.array_equal(heard, source.data)


# --- the command -------------------------------------------------------------------------------------

LATE = """\
title: Late Trouble
lead_in: 0.5s
gap: 1s
steps:
  - title: Start
    id: start
    cues:
      - Hello there, and welcome to this short session.
      - pause: 45s
  - title: Later
    id: later
    cues:
      - Something said near the end. {mark}
{more}"""
TOO_EARLY = """\
      - at: 2s
        say: Too early.
"""


def run_play(work: Path, name: str, *args: str, env: dict[str, str], until: float = 120) -> tuple[
        subprocess.Popen[str], Path]:
    capture = work / f"{name}.wav"
    proc = subprocess.Popen([sys.executable, "-m", "legsup_audio", "play", f"{name}.yaml", *args], cwd=work,
                            env={**os.environ, **env, "ALSA_CONFIG_PATH": str(ALSA / "capture.conf"),
                                 "LEGSUP_CAPTURE_FILE": str(capture)},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    return proc, capture


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    """Its stderr once it ended; stdout is kept in ``proc.out``."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert group_members(proc.pid) == []  # no speech worker left behind
    proc.out = out  # type: ignore[attr-defined]
    return err


def test_an_engine_failure_after_the_sound_started_is_one_line_and_exit_1(fake_workdir: Path) -> None:
    (fake_workdir / "late.yaml").write_text(LATE.format(mark="[hang]", more=""), encoding="utf-8")
    proc, capture = run_play(fake_workdir, "late", env={"LEGSUP_SPEECH_TIMEOUT": "1"})
    err = finish(proc)
    assert proc.returncode == 1, err
    assert capture.exists(), "the sound had started"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("late.yaml:13:9: the speech engine hung")


def test_a_timing_error_found_late_stops_play_with_every_problem(fake_workdir: Path) -> None:
    (fake_workdir / "late.yaml").write_text(LATE.format(mark="[hang-once]", more=TOO_EARLY), encoding="utf-8")
    token = fake_workdir / "hang-once"
    token.touch()  # the first try of the marked text hangs, so the rest is spoken after the sound began
    proc, capture = run_play(fake_workdir, "late", env={"LEGSUP_SPEECH_TIMEOUT": "2",
                                                        "LEGSUP_FAKE_HANG_ONCE": str(token)})
    err = finish(proc)
    assert not token.exists() and capture.exists()
    assert proc.returncode == 2, err
    expected = subprocess.run([sys.executable, "-m", "legsup_audio", "validate", "late.yaml"], cwd=fake_workdir,
                              capture_output=True, text=True, timeout=120)
    assert expected.returncode == 2
    assert err.strip().splitlines() == expected.stderr.strip().splitlines()
    assert "'at: 0:02.000' is before the cursor" in err


def test_ctrl_c_while_a_clip_is_being_spoken_stops_at_once_and_leaves_no_worker(
        fake_workdir: Path, tmp_path: Path) -> None:
    (fake_workdir / "late.yaml").write_text(LATE.format(mark="[hang]", more=""), encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc, capture = run_play(fake_workdir, "late", env={"LEGSUP_SPEECH_TIMEOUT": "120", "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 60
    while not capture.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    assert len(group_members(proc.pid)) >= 2  # legsup and its speech workers, one stuck on the marked text
    time.sleep(1.0)  # the capture appears as the device opens, a moment before the title line is printed
    os.killpg(proc.pid, signal.SIGINT)
    t = time.monotonic()
    err = finish(proc, timeout=30)
    assert time.monotonic() - t < 10, "not waiting for the stuck clip's time limit"
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(scratch.iterdir()) == []  # the workers' scratch folders are gone
    assert proc.out.startswith("Late Trouble (about ")  # type: ignore[attr-defined]  # its length was a guess


def test_play_from_a_step_on_a_cold_cache_starts_exactly_there(fake_workdir: Path) -> None:
    (fake_workdir / "late.yaml").write_text(LATE.format(mark="[hang-once]", more=""), encoding="utf-8")
    token = fake_workdir / "hang-once"
    token.touch()
    proc, capture = run_play(fake_workdir, "late", "--from", "later",
                             env={"LEGSUP_SPEECH_TIMEOUT": "2", "LEGSUP_FAKE_HANG_ONCE": str(token)})
    err = finish(proc)
    assert proc.returncode == 0, err
    subprocess.run([sys.executable, "-m", "legsup_audio", "export", "late.yaml", "--format", "wav", "-o", "ref.wav"],
                   cwd=fake_workdir, check=True, capture_output=True, timeout=120)
    session = build(fake_workdir / "late.yaml")
    start = session.timeline.step("later").start * RATE // 1000
    with wave.open(str(fake_workdir / "ref.wav"), "rb") as w:
        ref = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    with wave.open(str(capture), "rb") as w:
        sent = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.array_equal(sent[: ref.shape[0] - start], ref[start:])


def test_the_display_marks_the_length_as_a_guess_until_it_is_spoken(fake_workdir: Path) -> None:
    import pexpect

    (fake_workdir / "late.yaml").write_text(LATE.format(mark="[hang]", more=""), encoding="utf-8")
    env = {**os.environ, "LEGSUP_SPEECH_TIMEOUT": "120", "ALSA_CONFIG_PATH": str(ALSA / "capture.conf"),
           "LEGSUP_CAPTURE_FILE": str(fake_workdir / "tty.wav"), "TERM": "xterm", "COLUMNS": "100", "LINES": "30"}
    child = pexpect.spawn(sys.executable, ["-c", TTY_DRIVER, sys.executable, "-m", "legsup_audio", "play", "late.yaml"],
                          cwd=str(fake_workdir), env=env, encoding="utf-8", timeout=60, dimensions=(30, 100))
    try:
        child.expect("Hello there, and welcome")
        child.expect(r"/ ~\d\d:\d\d")  # the last cue is still being spoken (it hangs)
        child.send("q")
        child.expect(r"EXIT (\d+) (RESTORED|CHANGED)")
        assert child.match.group(1) == "0" and child.match.group(2) == "RESTORED"
    finally:
        child.close(force=True)
