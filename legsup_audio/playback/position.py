"""Where a playing session is: positions in milliseconds against the Timeline.

Owns the pure helpers that map a position onto the Timeline (the current step, the
latest spoken cue, the starts to jump to for ``n`` and ``p``, the events in a span) and
:class:`SessionControl`, the session's navigation in milliseconds over a player that
counts frames.  Both the plain driver (``session``) and the interactive display
(``display``) use it; it imports neither.
"""

from __future__ import annotations

from collections.abc import Iterator

from legsup_audio.compile.timeline import Event, StepSpan, Timeline
from legsup_audio.playback.player import PcmSource, Player
from legsup_audio.units import frame_to_ms, ms_to_frame

#: ``p`` within this long after a step's start goes to the previous step instead.
PREV_GRACE_MS = 2000


# --- time and timeline helpers -----------------------------------------------------


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


class SessionControl:
    """The session's navigation in milliseconds over a player that counts frames.

    A source still being spoken (``progressive.LiveSource``) brings its own timeline, exact
    up to what can be heard so far, and a length that is a guess until it is exact; a jump
    to a step whose start is not known yet waits for it.
    """

    def __init__(self, timeline: Timeline, source: PcmSource, player: Player) -> None:
        self._timeline = timeline
        self.source = source
        self.player = player
        self.rate = int(source.rate)
        self._live = callable(getattr(source, "current_timeline", None))
        self._total_ms = frame_to_ms(int(source.total), self.rate)
        self.paused = False
        self.quit = False

    @property
    def timeline(self) -> Timeline:
        return self.source.current_timeline() if self._live else self._timeline  # type: ignore[attr-defined]

    @property
    def total_ms(self) -> int:
        if self._live:
            return frame_to_ms(int(self.source.expected_total), self.rate)  # type: ignore[attr-defined]
        return self._total_ms

    @property
    def total_exact(self) -> bool:
        """Whether ``total_ms`` is the session's length, not a guess while it is spoken."""
        return not self._live or bool(self.source.exact)  # type: ignore[attr-defined]

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
        timeline, now = self.timeline, self.position_ms()
        target = next_step_start(timeline, now)
        if target is None:
            # past the last step: the end (waiting for it, while the session is still spoken)
            end = self.source.end_ms() if self._live else None  # type: ignore[attr-defined]
            self.player.seek(int(self.source.total) if end is None else ms_to_frame(end, self.rate))
        else:
            if self._live:  # its start in the timeline so far may be a guess: wait until it is known
                index = next(i for i, step in enumerate(timeline.steps) if step.start > now)
                target = self.source.step_start_ms(index)  # type: ignore[attr-defined]
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
