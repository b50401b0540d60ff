"""Where an export is: its stages, the one line a stop signal leaves, and a test hook.

Owns three small things that must agree on the names of an export's stages
(``synthesis``, ``rendering``, ``encoding``, ``tagging``, ``sidecars``,
``finished``, ``playlist``, ``copying``):

- :class:`Job`, what an export has done so far (the track and target it is
  on, whether that target existed, the tracks finished, the files copied), from
  which :meth:`Job.stopped_at` says in one line what a signal stopped and what it
  left behind; the export attaches that line to the ``KeyboardInterrupt`` (or the
  CLI's ``Stopped``) on its way up, and the CLI prints it.
- :func:`checkpoint`, called by the export at each stage: it records the stage
  on the current job and, only when ``LEGSUP_PAUSE_AT=<stage>[:<n>]`` names it
  (the ``n``-th time it is reached, default the first), prints
  ``legsup-test: at <stage>`` on stderr and stops the process (``SIGSTOP``) so a
  test can signal it at a known moment and then continue it with ``SIGCONT``.
  With the variable unset it is an attribute store and one comparison.
- :func:`signals_held`, which runs a commit (the final renames of a track) with
  SIGINT and SIGTERM held back, so a signal never cuts it in half.

It never writes files or decides what to do about a stop: the export and the CLI do.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

PAUSE_ENV = "LEGSUP_PAUSE_AT"
MARKER = "legsup-test: at"

#: What each stage is doing, as the stop line says it ("stopped while encoding").
DOING = {
    "synthesis": "speaking",
    "rendering": "rendering",
    "encoding": "encoding",
    "tagging": "tagging",
    "sidecars": "writing captions",
    "playlist": "writing the playlist",
    "copying": "copying",
}


def _pause_spec(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    stage, _, nth = value.partition(":")
    return stage, int(nth) if nth.isdigit() and int(nth) > 0 else 1


# Read once: the hook must cost nothing in a normal run.
_PAUSE = _pause_spec(os.environ.get(PAUSE_ENV))
_reached: dict[str, int] = {}


@dataclass
class Job:
    """What an export has done so far; enter it around the export (see ``export_scripts``)."""

    total: int = 1
    folder: Path | None = None  # a batch's folder
    index: int = 0
    label: str = ""
    stage: str | None = None
    target: Path | None = None
    existed: bool = False
    finished: list[Path] = field(default_factory=list)
    copy_to: Path | None = None
    copy_total: int = 0
    copied: int = 0
    _token: contextvars.Token[Job | None] | None = field(default=None, repr=False)

    @property
    def batch(self) -> bool:
        return self.folder is not None

    def track(self, index: int, label: str) -> None:
        self.index, self.label, self.target, self.existed = index, label, None, False

    def writing(self, target: Path) -> None:
        """``target`` is about to be written (its previous state is what a stop leaves)."""
        self.target, self.existed = target, target.exists()

    def stopped_at(self) -> str:
        """Where the job was and what it leaves, e.g. ``while encoding; out/x.mp3 left as it was``."""
        track = f" track {self.index} of {self.total} ({self.label})" if self.batch and self.index else ""
        if self.stage == "finished":  # between a track's last rename and the next track
            where = f"after{track}" if self.batch or not self.finished else f"after finishing {self.finished[-1]}"
        elif self.stage == "copying" and self.copy_to is not None:
            where = f"while copying to {self.copy_to}"
        else:
            where = f"while {DOING.get(self.stage or '', 'starting')}{track}"
        parts = [where]
        if self.batch:
            names = ", ".join(path.name for path in self.finished)
            parts.append(f"kept {len(self.finished)} finished track(s) in {self.folder}: {names}"
                         if self.finished else "no track finished")
        elif self.finished and self.stage != "finished":
            parts.append(f"{self.finished[0]} finished")
        if self.stage == "copying":
            parts.append(f"copied {self.copied} of {self.copy_total} file(s)")
        if self.target is not None and self.target not in self.finished:
            parts.append(f"{self.target} left as it was" if self.existed else f"{self.target} not written")
        elif not self.batch and not self.finished and self.stage != "copying":
            parts.append("nothing written")
        if self.batch and self.stage not in ("copying", "playlist"):
            parts.append("no playlist written")
        return "; ".join(parts)

    def __enter__(self) -> Self:
        self._token = _current.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        if exc is not None and not isinstance(exc, Exception) and not hasattr(exc, "legsup_stopped_at"):
            exc.legsup_stopped_at = self.stopped_at()  # type: ignore[attr-defined]


_current: contextvars.ContextVar[Job | None] = contextvars.ContextVar("legsup_job", default=None)


def current() -> Job | None:
    return _current.get()


def stop_line(exc: BaseException, head: str = "legsup: stopped") -> str:
    """The one line the CLI prints for a stop signal: ``head`` and, after an export, where it was."""
    where = getattr(exc, "legsup_stopped_at", None)
    return f"{head} {where}" if where else head


def enter(stage: str) -> None:
    """The export is now in ``stage`` (recorded for the stop line; never pauses)."""
    job = _current.get()
    if job is not None:
        job.stage = stage


def checkpoint(stage: str) -> None:
    """The export has reached ``stage``: record it, and pause here if a test asked to."""
    enter(stage)
    if _PAUSE is not None and _PAUSE[0] == stage:
        _reached[stage] = count = _reached.get(stage, 0) + 1
        if count == _PAUSE[1]:
            _pause(stage)


def pausing_at(stage: str) -> bool:
    """True when the test hook will pause at the next ``checkpoint(stage)``."""
    return _PAUSE is not None and _PAUSE[0] == stage and _reached.get(stage, 0) + 1 == _PAUSE[1]


def during(stage: str, callback: Callable[[int, int], None] | None) -> Callable[[int, int], None] | None:
    """``callback`` for a stage that reports progress; it passes a checkpoint at every step."""
    enter(stage)
    if _PAUSE is None or _PAUSE[0] != stage:
        return callback

    def step(done: int, total: int) -> None:
        checkpoint(stage)
        if callback is not None:
            callback(done, total)

    return step


def _pause(stage: str) -> None:
    sys.stderr.write(f"{MARKER} {stage}\n")
    sys.stderr.flush()
    # Stopped, not sleeping: the test signals us while we cannot move, then continues us,
    # so the signal lands exactly here whatever the machine's load.
    os.kill(os.getpid(), signal.SIGSTOP)


_HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back; one that came meanwhile is raised after it.

    Only the main thread can change signal handlers; elsewhere the block just runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in _HELD}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if pending:
            signal.raise_signal(pending[0])  # the restored handler raises it here, after the block
