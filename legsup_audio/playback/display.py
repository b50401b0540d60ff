"""The interactive terminal display and key handling for ``legsup play``.

This module owns everything that touches the terminal during live playback: a calm
rich ``Live`` panel (session title, current step, what is happening now: the cue being
said, else the breath and its count, else rest; elapsed and remaining time, a progress
bar, the keys line), of one fixed height, refreshed about four times a second,
and reading single keys in cbreak mode.  Terminal attributes are always restored,
also on Ctrl-C and on errors.  It decides nothing about navigation: keys are handed
to :class:`~legsup_audio.playback.session.SessionControl`.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import textwrap
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from legsup_audio.compile.timeline import Event, Timeline
from legsup_audio.errors import one_line

from legsup_audio.playback.position import SessionControl, current_step
from legsup_audio.units import format_clock

#: Seconds between redraws (about four a second).
REFRESH_S = 0.25

#: Longest wait for a key before looking at the player again (seconds).
KEY_POLL_S = 0.05

KEYS_LINE = "space pause · n next · p previous · q quit"

#: Lines the spoken cue has in the panel: a longer cue is cut with an ellipsis, a shorter one padded.
CUE_LINES = 2

#: How long a cue stays shown after its speech ends (ms), so it can be read; then the line
#: shows the breath or "Rest" instead of words said minutes ago.
CUE_LINGER_MS = 3000

#: What the cue line says during a breathing phase that nobody speaks.
PHASE_WORDS = {"inhale": "Breathe in", "hold": "Hold", "exhale": "Breathe out", "hold_out": "Hold"}

# Quiet colours: one soft accent, everything else plain or dim.
ACCENT = "grey70"
DIM = "grey50"


class KeyReader:
    """Single keys from a terminal in cbreak mode; reads nothing when not a terminal."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def read(self, timeout: float) -> str:
        """The keys typed within ``timeout`` seconds ('' if none)."""
        if self.fd is None:
            time.sleep(timeout)
            return ""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(self.fd, 64)
        return data.decode("utf-8", errors="ignore")


@contextmanager
def cbreak_keys(stream: TextIO | None = None) -> Iterator[KeyReader]:
    """Put the terminal on ``stream`` (stdin) into cbreak mode; always restore it."""
    stream = stream if stream is not None else sys.stdin
    try:
        fd: int | None = stream.fileno()
    except (AttributeError, ValueError, OSError):
        fd = None
    if fd is None or not os.isatty(fd):
        yield KeyReader(None)
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield KeyReader(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def keys_line(paused: bool) -> str:
    """The keys and what they do now: space resumes a paused session."""
    return KEYS_LINE.replace("space pause", "space resume") if paused else KEYS_LINE


def clocks(ms: int, total_ms: int) -> tuple[str, str, str]:
    """Elapsed, length and time left as shown: whole seconds, elapsed + left = length exactly.

    Each is rounded down from the same whole seconds, so a "left" rounded up on its own
    cannot make 05:12 + 08:49 of a 14:00 session."""
    total_s = max(0, total_ms) // 1000
    elapsed_s = min(max(0, ms) // 1000, total_s)
    return (format_clock(elapsed_s * 1000), format_clock(total_s * 1000),
            format_clock((total_s - elapsed_s) * 1000))


def now_line(timeline: Timeline, ms: int) -> tuple[str, str]:
    """What is happening at ``ms``, and its style: the cue being said (kept a moment after
    it ends, so it can be read), else the breath and its count, else rest ("" before the
    first step).  A cue whose time has passed is never shown through a long silence."""
    said: Event | None = None
    phase: Event | None = None
    for event in timeline.events:
        if event.start > ms:
            break
        if event.kind == "speech" and ms < event.end + CUE_LINGER_MS:
            said = event
        elif event.kind in PHASE_WORDS and ms < event.end:
            phase = event
    if said is not None and (phase is None or said.start >= phase.start or ms < said.end):
        return one_line(said.caption or ""), "italic"
    if phase is not None:
        cycle, cycles = phase.get("cycle"), _cycles(timeline, phase)
        count = f" · breath {cycle} of {cycles}" if cycle is not None and cycles else ""
        return f"{PHASE_WORDS[phase.kind]}{count}", ACCENT
    if ms < (timeline.steps[0].start if timeline.steps else 0):
        return "", DIM
    return "Rest", DIM


def _cycles(timeline: Timeline, phase: Event) -> int:
    """How many breaths the block of ``phase`` has (its phases share a step and a script line)."""
    return sum(1 for e in timeline.events if e.kind == "inhale" and e.step == phase.step and e.line == phase.line)


def fitted(text: str, width: int, lines: int) -> list[str]:
    """``text`` wrapped to ``width`` in exactly ``lines`` lines: padded, or cut with an ellipsis."""
    wrapped = textwrap.wrap(text, max(width, 1)) or [""]
    if len(wrapped) > lines:
        last = " ".join(wrapped[lines - 1:])
        wrapped = [*wrapped[: lines - 1], last[: max(width - 1, 0)].rstrip() + "…"]
    return wrapped + [""] * (lines - len(wrapped))


def render(control: SessionControl, ms: int, *, finished: bool = False, width: int = 80) -> RenderableType:
    """The panel for position ``ms`` in a terminal ``width`` columns wide: always the same height.

    Every row is one line (cut with an ellipsis when too long) and the cue takes exactly
    ``CUE_LINES`` lines, so the panel never grows or shrinks as the text changes."""
    timeline = control.timeline
    total = max(control.total_ms, 1)
    ms = max(0, min(ms, control.total_ms))
    inner = max(width - 6, 1)  # the border and the padding of 2 on each side

    step = current_step(timeline, ms)
    if step is None:
        step_line = Text("Getting ready", style=DIM, no_wrap=True, overflow="ellipsis")
    else:
        number = [s.id for s in timeline.steps].index(step.id) + 1
        step_line = Text.assemble(
            (f"Step {number} of {len(timeline.steps)}  ", DIM), (one_line(step.title), "bold"),
            no_wrap=True, overflow="ellipsis",
        )
    words, style = now_line(timeline, ms)
    cue_lines = [Text(line, style=style, no_wrap=True, overflow="ellipsis")
                 for line in fitted(words, inner, CUE_LINES)]

    if finished:
        state = "finished"
    elif control.paused:
        state = "paused"
    else:
        state = "playing"

    elapsed, length, left = clocks(ms, control.total_ms)
    times = Table.grid(expand=True)
    times.add_column(justify="left", no_wrap=True, overflow="ellipsis")
    times.add_column(justify="right", no_wrap=True, overflow="ellipsis")
    about = "" if control.total_exact else "~"  # the length is a guess while the rest is spoken
    times.add_row(Text(f"{elapsed} / {about}{length}", style=DIM), Text(f"{about}{left} left · {state}", style=DIM))
    bar = ProgressBar(
        total=total,
        completed=ms,
        style="grey23",
        complete_style=ACCENT,
        finished_style=ACCENT,
        pulse_style=ACCENT,
    )
    keys = Text(keys_line(control.paused and not finished), style=DIM, no_wrap=True, overflow="ellipsis")
    body = Table.grid(expand=True)  # one column; a bare ProgressBar would not end its line
    body.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    for row in (step_line, "", *cue_lines, "", bar, times, "", keys):
        body.add_row(row)
    return Panel(
        body,
        title=Text(one_line(timeline.title), style="bold", no_wrap=True, overflow="ellipsis"),
        title_align="left",
        border_style=DIM,
        padding=(1, 2),
        width=width,
    )


def run_interactive(control: SessionControl, start_ms: int, *, out: TextIO) -> None:
    """Play with the live display until the end or ``q``; Ctrl-C propagates."""
    console = Console(file=out)
    with cbreak_keys() as keys:
        control.start(start_ms)  # before the display, so a device error leaves no panel
        with Live(
            render(control, start_ms, width=console.width),
            console=console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as live:
            next_draw = 0.0
            while not control.finished():
                typed = keys.read(KEY_POLL_S)
                for key in typed:
                    control.handle_key(key)
                    if control.quit:
                        break
                now = time.monotonic()
                if typed or now >= next_draw:
                    live.update(render(control, control.position_ms(), width=console.width), refresh=True)
                    next_draw = now + REFRESH_S
            ended = control.player.finished()
            final_ms = control.total_ms if ended else control.position_ms()
            live.update(render(control, final_ms, finished=ended, width=console.width), refresh=True)
