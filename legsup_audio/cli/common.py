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
from typer.core import TyperArgument, TyperGroup

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


class HelpGroup(TyperGroup):
    """A command group whose ``--help`` (its own and its commands') shows metavars a person
    reads: the one an option declares (``FILE``, ``SECONDS``), else its name in capitals; nothing
    for a flag; never a Python type name (typer shows ``<str>``, ``<list[str]>`` otherwise)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return [_plain(param) for param in super().get_params(ctx)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not isinstance(command, HelpGroup):
            for param in command.params:
                _plain(param)
            help_option = command.get_help_option(ctx)
            if help_option is not None:
                _plain(help_option)
        return command


def _plain(param: Any) -> Any:
    """``param`` with its help metavar set (typer's click is private: parameters are read by duck typing)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""  # a flag takes no value: show none
    elif isinstance(param, TyperArgument):
        shown = param.metavar or (param.name or "value").upper()
        param.metavar = shown
        many = "..." if param.nargs != 1 else ""
        # typer draws an argument's Python type beside its name, and {NAME} for a required one
        param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
        param._usage_display_name = (  # type: ignore[method-assign]
            (lambda: f"{shown}{many}") if param.required else (lambda: f"[{shown}]{many}"))
    elif param.metavar is None:
        param.metavar = (param.name or "value").upper()
    return param
