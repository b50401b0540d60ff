"""The interactive terminal display and key handling for ``legsup play``.

This module owns everything that touches the terminal during live playback: a calm
rich ``Live`` panel (session title, current step, the latest spoken cue, elapsed and
remaining time, a progress bar, the keys line), refreshed about four times a second,
and reading single keys in cbreak mode.  Terminal attributes are always restored,
also on Ctrl-C and on errors.  It decides nothing about navigation: keys are handed
to :class:`~legsup_audio.playback.session.SessionControl`.
"""

from __future__ import annotations

import os
import select
import sys
import termios
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

from legsup_audio.errors import one_line

from legsup_audio.playback.position import SessionControl, current_cue, current_step
from legsup_audio.units import format_clock

#: Seconds between redraws (about four a second).
REFRESH_S = 0.25

#: Longest wait for a key before looking at the player again (seconds).
KEY_POLL_S = 0.05

KEYS_LINE = "space pause · n next · p previous · q quit"

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


def render(control: SessionControl, ms: int, *, finished: bool = False) -> RenderableType:
    """The panel for position ``ms``."""
    timeline = control.timeline
    total = max(control.total_ms, 1)
    ms = max(0, min(ms, control.total_ms))

    step = current_step(timeline, ms)
    if step is None:
        step_line = Text("Getting ready", style=DIM)
    else:
        number = [s.id for s in timeline.steps].index(step.id) + 1
        step_line = Text.assemble(
            (f"Step {number} of {len(timeline.steps)}  ", DIM), (one_line(step.title), "bold")
        )
    cue = current_cue(timeline, ms)
    cue_line = Text(one_line(cue.text or "") if cue is not None else "", style="italic")

    if finished:
        state = "finished"
    elif control.paused:
        state = "paused"
    else:
        state = "playing"

    times = Table.grid(expand=True)
    times.add_column(justify="left")
    times.add_column(justify="right")
    about = "" if control.total_exact else "~"  # the length is a guess while the rest is spoken
    times.add_row(
        Text(f"{format_clock(ms)} / {about}{format_clock(control.total_ms)}", style=DIM),
        Text(f"{about}{format_clock(control.total_ms - ms + 999)} left · {state}", style=DIM),
    )
    bar = ProgressBar(
        total=total,
        completed=ms,
        style="grey23",
        complete_style=ACCENT,
        finished_style=ACCENT,
        pulse_style=ACCENT,
    )
    body = Table.grid(expand=True)  # one column; a bare ProgressBar would not end its line
    body.add_column(ratio=1)
    for row in (step_line, "", cue_line, "", bar, times, "", Text(KEYS_LINE, style=DIM)):
        body.add_row(row)
    return Panel(
        body,
        title=Text(one_line(timeline.title), style="bold"),
        title_align="left",
        border_style=DIM,
        padding=(1, 2),
    )


def run_interactive(control: SessionControl, start_ms: int, *, out: TextIO) -> None:
    """Play with the live display until the end or ``q``; Ctrl-C propagates."""
    console = Console(file=out)
    with cbreak_keys() as keys:
        control.start(start_ms)  # before the display, so a device error leaves no panel
        with Live(
            render(control, start_ms),
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
                    live.update(render(control, control.position_ms()), refresh=True)
                    next_draw = now + REFRESH_S
            ended = control.player.finished()
            final_ms = control.total_ms if ended else control.position_ms()
            live.update(render(control, final_ms, finished=ended), refresh=True)
