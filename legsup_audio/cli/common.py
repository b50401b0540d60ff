"""What every ``legsup`` command shares: the consoles and turning errors into exit statuses.

Owns ``out`` and ``err`` (rich consoles), :class:`Stopped` (a signal asking us to stop)
and :func:`reports_errors`: every ``LegsupError`` becomes one line per problem on
stderr and the error's exit status (2 for bad input, 1 when the work could not be
done), with no traceback; anything else escaping is a bug and is shown as one.  The
command modules (``commands``, ``authoring``) import it; it imports neither.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from legsup_audio.checkpoint import stop_line
from legsup_audio.errors import LegsupError, one_line

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def safe(text: object) -> str:
    """``text`` (a script's words, a path) as it may reach the terminal through rich: control
    characters escaped (``\\x1b``, ``\\n``), and ``[...]`` shown as written, not read as markup."""
    from rich.markup import escape

    return escape(one_line(str(text)))


class Stopped(BaseException):
    """A signal asked us to stop; a BaseException so that nothing swallows it on the way up."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def reports_errors(func: F) -> F:
    """Turn a LegsupError into clean lines on stderr and its exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LegsupError as exc:
            for line in exc.lines():
                typer.echo(line, err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            typer.echo(stop_line(exc), err=True)  # with where an export was stopped and what it left
            raise typer.Exit(130) from None
        except Stopped as exc:
            typer.echo(stop_line(exc, str(exc)), err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
