"""The one error hierarchy of legsup-audio.

Every failure a user can cause or meet is a ``LegsupError``; the CLI turns it into
one line on stderr and an exit status (``exit_code``).  Anything else escaping to
the CLI is a bug and may show a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LegsupError(Exception):
    """Base of every error legsup-audio reports to a user."""

    exit_code = 1

    def lines(self) -> list[str]:
        """The message as the CLI prints it, one line per problem."""
        return [str(self)]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a cue script, pinned to a 1-based line and column."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}:{self.col}: {prefix}{one_line(self.message)}"


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters shown escaped (``\\n``, ``\\x1b``).

    Messages quote what a script says, and a quoted YAML string may hold any character:
    a problem must stay one line, and must not send escape sequences to the terminal.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


class ScriptError(LegsupError):
    """A cue script is broken; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col))
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class UsageError(LegsupError):
    """A bad option or argument on the command line (unknown script, bad value)."""

    exit_code = 2


class SetupError(LegsupError):
    """Something the machine needs is missing (espeak-ng, ffmpeg, a sound device)."""


class SpeechError(LegsupError):
    """The speech engine failed to produce a usable clip."""


class OutputError(LegsupError):
    """The output could not be written (unwritable folder, disk full)."""


class PlaybackError(LegsupError):
    """Live playback failed (no sound device, device lost)."""


def script_problem(file: str | Path, line: int, col: int, message: str) -> Problem:
    """Shorthand used by the loader and compiler to build a :class:`Problem`."""
    return Problem(str(file), line, col, message)
