"""The progress display of long commands: a rich bar on stderr, only in a terminal.

Owns what a person watching an export sees while it runs: for a batch, which
track of how many; for the current track, the phase (speaking, rendering and
encoding) with a bar and the time left.  When stderr is not a terminal (a pipe,
a log, CI) it shows nothing at all and hands out no callbacks, so the work pays
nothing for it.  It never does work itself: the export job calls ``track`` and
the callbacks that ``phase`` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


class ProgressDisplay:
    """Use as a context manager around the work; a no-op unless ``console`` is a terminal."""

    def __init__(self, console: Console, *, tracks: int = 1, enabled: bool | None = None,
                 stdout_is_terminal: bool = False) -> None:
        self.enabled = console.is_terminal if enabled is None else enabled
        self.tracks = tracks
        self._bar: Progress | None = None
        self._overall: TaskID | None = None
        self._phase: TaskID | None = None
        if self.enabled:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                # Result lines printed to a terminal stdout appear above the bar instead of through it.
                redirect_stdout=stdout_is_terminal,
                redirect_stderr=False,
            )

    def __enter__(self) -> ProgressDisplay:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def track(self, index: int, total: int, name: str) -> None:
        """Track ``index`` of ``total`` is starting (shown only for a batch)."""
        if self._bar is None or total < 2:
            return
        description = f"track {index} of {total}: {name}"
        if self._overall is None:
            self._overall = self._bar.add_task(description, total=total, completed=index - 1)
        else:
            self._bar.update(self._overall, description=description, completed=index - 1)

    def phase(self, label: str) -> Callable[[int, int], None] | None:
        """A ``(done, total)`` callback for one phase of the current track, or None when hidden."""
        bar = self._bar
        if bar is None:
            return None
        if self._phase is None:
            self._phase = bar.add_task(f"  {label}", total=None)
        else:
            bar.reset(self._phase, description=f"  {label}", total=None)
        task = self._phase

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, 1))

        return update
