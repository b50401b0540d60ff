"""Driving a live session: what plays when, and what the listener is told about it.

This module owns ``play_session`` (start, keys, step navigation, finishing, Ctrl-C)
and the plain progress lines; where the session is and how it moves belong to
``position``.  It talks to a :class:`~legsup_audio.playback.player.Player` in frames and to the
listener either through the interactive display (``display.py``) or through plain
progress lines.  It never renders audio and never parses scripts.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from legsup_audio.compile.timeline import Timeline
from legsup_audio.errors import one_line
from legsup_audio.playback.player import PcmSource, Player
from legsup_audio.playback.position import SessionControl, events_between
from legsup_audio.units import format_clock

#: How often the non-interactive loop looks at the player (seconds).
PLAIN_POLL_S = 0.05

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def is_interactive(stdin: TextIO | None = None, stdout: TextIO | None = None) -> bool:
    """True when both stdin and stdout are terminals (keys and a live display work)."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    try:
        return bool(stdin.isatty() and stdout.isatty())
    except (AttributeError, ValueError):
        return False


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
    about = "" if control.total_exact else "about "  # still being spoken: its length is a guess
    print(f"{one_line(timeline.title)} ({about}{format_clock(control.total_ms)})", file=out, flush=True)
    told = max(0, start_ms)  # everything starting before this has been reported
    while True:
        done = control.finished()
        now = control.total_ms if done else control.position_ms()
        if now >= told:
            # The timeline as known now: exact up to what has been heard (it may still be spoken).
            lines = progress_lines(control.timeline, told, now, titles)
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
            found.append((step.start, 0, f"[{format_clock(step.start)}] {one_line(step.title)}"))
    for event in events_between(timeline, lo_ms, hi_ms):
        if event.kind == "speech" and event.text:
            title = titles.get(event.step, event.step)
            found.append((event.start, 1, f"[{format_clock(event.start)}] {one_line(title)} — {one_line(event.caption)}"))
    return [line for _, _, line in sorted(found, key=lambda t: (t[0], t[1]))]
