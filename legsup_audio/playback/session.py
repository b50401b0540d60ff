"""Driving a live session: what plays when, and what the listener is told about it.

This module owns ``play_session`` (start, keys, step navigation, finishing, Ctrl-C)
and the pure helpers that map a position in milliseconds onto the Timeline: the
current step, the latest spoken cue, and the starts to jump to for ``n`` and ``p``.
It talks to a :class:`~legsup_audio.playback.player.Player` in frames and to the
listener either through the interactive display (``display.py``) or through plain
progress lines.  It never renders audio and never parses scripts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import TextIO

from legsup_audio.playback.player import PcmSource, Player
from legsup_audio.compile.timeline import Event, StepSpan, Timeline

#: ``p`` within this long after a step's start goes to the previous step instead.
PREV_GRACE_MS = 2000

#: How often the non-interactive loop looks at the player (seconds).
PLAIN_POLL_S = 0.05

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


# --- time and timeline helpers -----------------------------------------------------


def ms_to_frame(ms: int, rate: int) -> int:
    return ms * rate // 1000


def frame_to_ms(frame: int, rate: int) -> int:
    return frame * 1000 // rate


def format_clock(ms: int) -> str:
    """``mm:ss`` (or ``h:mm:ss`` from an hour on), rounded down to the second."""
    s = max(0, ms) // 1000
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def current_step(timeline: Timeline, ms: int) -> StepSpan | None:
    """The last step that has started at ``ms`` (the lead-in has none)."""
    found: StepSpan | None = None
    for step in timeline.steps:
        if step.start <= ms:
            found = step
        else:
            break
    return found


def current_cue(timeline: Timeline, ms: int) -> Event | None:
    """The latest spoken cue that has started at ``ms``."""
    found: Event | None = None
    for event in timeline.events:
        if event.start > ms:
            break
        if event.kind == "speech":
            found = event
    return found


def next_step_start(timeline: Timeline, ms: int) -> int | None:
    """Where ``n`` goes: the start of the first step after ``ms``; None in the last step."""
    for step in timeline.steps:
        if step.start > ms:
            return step.start
    return None


def prev_step_start(timeline: Timeline, ms: int, grace_ms: int = PREV_GRACE_MS) -> int:
    """Where ``p`` goes: the current step's start, or the previous step's if within grace."""
    steps = list(timeline.steps)
    index = -1
    for i, step in enumerate(steps):
        if step.start <= ms:
            index = i
    if index < 0:
        return 0  # in the lead-in: back to the very beginning
    if ms - steps[index].start < grace_ms and index > 0:
        return steps[index - 1].start
    return steps[index].start


def events_between(timeline: Timeline, lo_ms: int, hi_ms: int) -> Iterator[Event]:
    """Events with ``lo_ms <= start <= hi_ms``, in timeline order."""
    for event in timeline.events:
        if event.start > hi_ms:
            break
        if event.start >= lo_ms:
            yield event


def is_interactive(stdin: TextIO | None = None, stdout: TextIO | None = None) -> bool:
    """True when both stdin and stdout are terminals (keys and a live display work)."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    try:
        return bool(stdin.isatty() and stdout.isatty())
    except (AttributeError, ValueError):
        return False


# --- driving playback ----------------------------------------------------------------


class SessionControl:
    """The session's navigation in milliseconds over a player that counts frames."""

    def __init__(self, timeline: Timeline, source: PcmSource, player: Player) -> None:
        self.timeline = timeline
        self.source = source
        self.player = player
        self.rate = int(source.rate)
        self.total_ms = frame_to_ms(int(source.total), self.rate)
        self.paused = False
        self.quit = False

    def start(self, start_ms: int) -> None:
        self.player.play(self.source, ms_to_frame(max(0, start_ms), self.rate))

    def position_ms(self) -> int:
        return frame_to_ms(self.player.position(), self.rate)

    def finished(self) -> bool:
        return self.quit or self.player.finished()

    def toggle_pause(self) -> None:
        if self.paused:
            self.player.resume()
            self.paused = False
        else:
            self.player.pause()
            self.paused = True

    def goto(self, ms: int) -> None:
        self.player.seek(ms_to_frame(max(0, ms), self.rate))

    def next_step(self) -> None:
        target = next_step_start(self.timeline, self.position_ms())
        if target is None:
            self.player.seek(int(self.source.total))  # past the last step: the end
        else:
            self.goto(target)

    def prev_step(self) -> None:
        self.goto(prev_step_start(self.timeline, self.position_ms()))

    def handle_key(self, key: str) -> None:
        if key == " ":
            self.toggle_pause()
        elif key in ("n", "N"):
            self.next_step()
        elif key in ("p", "P"):
            self.prev_step()
        elif key in ("q", "Q"):
            self.quit = True


def play_session(
    timeline: Timeline,
    source: PcmSource,
    *,
    player: Player,
    start_ms: int = 0,
    interactive: bool,
    out: TextIO | None = None,
) -> int:
    """Play ``source`` with ``player`` from ``start_ms`` until it ends; return an exit status.

    Interactive: a live display and the keys space/n/p/q (needs a terminal on stdin).
    Otherwise: one plain line per step start and per spoken cue on ``out``.
    Returns 0 when the audio ends or the listener quits, 130 after Ctrl-C; a device
    problem raises :class:`~legsup_audio.errors.PlaybackError`.  The sound is always
    stopped before returning, and the terminal is left as it was found.
    """
    stream = out if out is not None else sys.stdout
    control = SessionControl(timeline, source, player)
    try:
        if interactive:
            from legsup_audio.playback.display import run_interactive

            run_interactive(control, start_ms, out=stream)
        else:
            _run_plain(control, start_ms, stream)
    except KeyboardInterrupt:
        player.stop()
        return EXIT_INTERRUPTED
    finally:
        player.stop()
        if (close := getattr(player, "close", None)) is not None:
            close()  # stops the background reading of the source
    return 0


def _run_plain(control: SessionControl, start_ms: int, out: TextIO) -> None:
    timeline = control.timeline
    titles = {s.id: s.title for s in timeline.steps}
    control.start(start_ms)  # reads the first seconds and opens the device (may raise)
    print(f"{timeline.title} ({format_clock(control.total_ms)})", file=out, flush=True)
    told = max(0, start_ms)  # everything starting before this has been reported
    while True:
        done = control.finished()
        now = control.total_ms if done else control.position_ms()
        if now >= told:
            lines = progress_lines(timeline, told, now, titles)
            if lines:
                out.write("".join(line + "\n" for line in lines))
                out.flush()
            told = now + 1
        if done:
            break
        time.sleep(PLAIN_POLL_S)
    print(f"[{format_clock(control.total_ms)}] Finished.", file=out, flush=True)


def progress_lines(
    timeline: Timeline, lo_ms: int, hi_ms: int, titles: dict[str, str] | None = None
) -> list[str]:
    """Plain lines for step starts and spoken cues with ``lo_ms <= start <= hi_ms``."""
    titles = titles if titles is not None else {s.id: s.title for s in timeline.steps}
    found: list[tuple[int, int, str]] = []
    for step in timeline.steps:
        if lo_ms <= step.start <= hi_ms:
            found.append((step.start, 0, f"[{format_clock(step.start)}] {step.title}"))
    for event in events_between(timeline, lo_ms, hi_ms):
        if event.kind == "speech" and event.text:
            title = titles.get(event.step, event.step)
            found.append((event.start, 1, f"[{format_clock(event.start)}] {title} — {event.text}"))
    return [line for _, _, line in sorted(found, key=lambda t: (t[0], t[1]))]
