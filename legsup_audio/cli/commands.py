"""The ``legsup`` app and its session commands: ``export``, ``play``, ``timeline``,
``validate``, ``scripts``; and ``main``, the console script.

Each command parses its options, calls one library function, and prints the
result; errors become clean lines through ``common.reports_errors``.  The authoring
commands (``new``, ``schema``, ``voices``) are added from ``authoring``, and
``recordings`` (the cue sheet for your own voice) from ``recordings``.
"""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from legsup_audio import __version__
from legsup_audio.cli.authoring import register as register_authoring
from legsup_audio.cli.recordings import register as register_recordings
from legsup_audio.cli.common import HelpGroup, Stopped, err, out, reports_errors, safe
from legsup_audio.errors import Problem, ScriptError, UsageError
from legsup_audio.units import format_ms

app = typer.Typer(
    name="legsup",
    help="Voice-guided Legs Up the Wall sessions: compile cue scripts, export MP3s, list voices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=HelpGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"legsup {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Voice-guided Legs Up the Wall sessions from cue scripts."""


ScriptArg = Annotated[
    str | None,
    typer.Argument(metavar="SCRIPT", help="A cue script: a path to a .yaml file or a built-in name. Default: legs-up-the-wall."),
]


NoBackground = Annotated[
    bool, typer.Option("--no-background", help="Leave the script's background bed out: the voice only.")
]


MaxLength = Annotated[
    str | None, typer.Option("--max-length", metavar="LENGTH", help="Refuse sessions longer than this (e.g. 6h, 90m). Default: 4h.")
]


ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace output files even when they are read-only.")
]


VoiceOpt = Annotated[
    str | None, typer.Option("--voice", metavar="PROFILE", help="Speak with this voice profile instead of the script's (see `legsup voices`).")
]


def _max_length_ms(value: str | None) -> int:
    """``--max-length`` in ms; a bad value is a usage error (exit 2), not a traceback."""
    from legsup_audio.units import HINT, parse_duration
    from legsup_audio.script.limits import DEFAULT_MAX_LENGTH_MS

    if value is None:
        return DEFAULT_MAX_LENGTH_MS
    try:
        ms = parse_duration(value) if len(value) <= 40 else None
    except (ValueError, OverflowError):
        ms = None
    if ms is None or ms <= 0:
        raise UsageError(f"--max-length '{value}' is not a length above 0: {HINT}, e.g. --max-length 6h")
    return ms


def _progress(label: str) -> Callable[[int, int], None] | None:
    """A quiet progress callback on stderr when it is a terminal."""
    if not err.is_terminal:
        return None
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "status" not in state:
            state["status"] = err.status(label)
            state["status"].start()
        state["status"].update(f"{label} {done}/{total}" if total < 10_000 else f"{label} {100 * done // total}%")
        if done >= total:
            state.pop("status").stop()

    return update


@app.command()
@reports_errors
def export(
    scripts: Annotated[
        list[str] | None, typer.Argument(metavar="SCRIPT", help="Cue scripts (paths or built-in names). Default: legs-up-the-wall.")
    ] = None,
    output: Annotated[
        str | None, typer.Option("-o", "--output", metavar="PATH",
                                 help="Output file (one script) or folder (several, or a name ending in /).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", metavar="FORMAT", help="mp3, m4a, m4b, ogg or wav. Default: -o's extension, else mp3.")
    ] = None,
    bitrate: Annotated[str | None, typer.Option(metavar="RATE", help="Encoder bitrate, e.g. 160k. Default: MP3 96k mono, 128k stereo; M4A/M4B 64k mono.")] = None,
    playlist: Annotated[
        str | None, typer.Option(metavar="NAME", help="Name of the batch's .m3u8 playlist (default: playlist).")
    ] = None,
    to: Annotated[
        Path | None, typer.Option("--to", metavar="DIR", help="Then copy the finished files to this folder (a phone or SD card).")
    ] = None,
    no_background: NoBackground = False,
    max_length: MaxLength = None,
    voice: VoiceOpt = None,
    page: Annotated[
        bool, typer.Option("--page", help="Also write NAME.html beside each track: its timeline page, with a player.")
    ] = False,
    force: ForceOpt = False,
    album: Annotated[
        str | None, typer.Option("--album", metavar="NAME",
                                 help="The album tag of every track written (default: the first script's "
                                      "album:, else legsup-audio).")
    ] = None,
) -> None:
    """Render scripts to tagged audio files with .lrc/.vtt captions (default output/<script-id>.mp3).

    Several scripts make numbered tracks (01 - Title.mp3, ...) and a playlist.m3u8 in the -o folder.
    """
    from legsup_audio.output.export import ExportResult, export_scripts
    from legsup_audio.cli.progress import ProgressDisplay

    def wrote(result: ExportResult) -> None:
        whole = "" if result.lufs is None or not math.isfinite(result.lufs) else f", whole file {result.lufs:.1f} LUFS"
        # A mono file plays on both ears: every loudness said of it is as heard (measured as dual mono).
        out.print(
            f"wrote {safe(result.path)} ({format_ms(result.duration_ms)}, "
            f"{'stereo' if result.channels == 2 else 'mono, loudness as heard on two ears'}, "
            f"{'voice at -16 LUFS' if result.spoken else 'no voice'}{whole})"
        )
        if result.page is not None:
            out.print(f"wrote {safe(result.page)} (timeline page)")

    names: list[str | None] = list(scripts or [None])
    limit = _max_length_ms(max_length)
    with ProgressDisplay(err, tracks=len(names), stdout_is_terminal=out.is_terminal) as display:
        batch = export_scripts(names, output=output, fmt=fmt, bitrate=bitrate, playlist=playlist, to=to,
                               progress=display, on_track=wrote, background=not no_background,
                               max_length_ms=limit, voice=voice, page=page, force=force, album=album)
    if batch.playlist is not None:
        total = sum(track.duration_ms for track in batch.tracks)
        out.print(f"wrote {safe(batch.playlist)} ({len(batch.tracks)} tracks, {format_ms(total)})")
    if batch.copied is not None:
        out.print(batch.copied.summary())


@app.command()
@reports_errors
def play(
    script: ScriptArg = None,
    from_step: Annotated[
        str | None, typer.Option("--from", metavar="STEP", help="Start at this step (its id, or its number from 1).")
    ] = None,
    no_background: NoBackground = False,
    max_length: MaxLength = None,
    voice: VoiceOpt = None,
) -> None:
    """Play a session through the sound card, with a progress display and keys.

    Sound starts once the first ten seconds are ready; the rest is spoken while it plays.
    """
    from legsup_audio.output.encode import mastering_target
    from legsup_audio.playback import SimpleaudioPlayer, is_interactive, play_session
    from legsup_audio.playback.player import SPOKEN_LEAD_FRAMES
    from legsup_audio.progressive import open_live

    # Mastered exactly as a WAV export, so what is heard is what `export --format wav` writes.
    live = open_live(script, max_length_ms=_max_length_ms(max_length), voice=voice, background=not no_background,
                     target_lufs=mastering_target("wav"))
    index = None if from_step is None else _step_index([step.id for step in live.script.steps], from_step)
    live.start(SPOKEN_LEAD_FRAMES, index)  # what the first sound needs is spoken first
    try:
        start_ms = 0 if index is None else live.step_start(index)  # once every clip before it is spoken
        live.wait_ready(start_ms, SPOKEN_LEAD_FRAMES)
        status = play_session(live.timeline, live.source, player=SimpleaudioPlayer(), start_ms=start_ms,
                              interactive=is_interactive())
    finally:
        live.close()  # stops speaking at once: no speech worker is left behind
    raise typer.Exit(status)


def _step_index(ids: list[str], wanted: str) -> int:
    """The 0-based index of the step named by id or 1-based number."""
    from legsup_audio.script.suggest import suggest

    if wanted.isdigit() and 1 <= int(wanted) <= len(ids):
        return int(wanted) - 1
    if wanted in ids:
        return ids.index(wanted)
    count = len(ids)
    if wanted.strip().isdigit():
        raise UsageError(f"no step {int(wanted)}: this session has {count} steps ({', '.join(ids)}); "
                         f"give a number from 1 to {count} or a step id")
    raise UsageError(f"no step '{wanted}'{suggest(wanted, ids)}; this session has {count} steps: {', '.join(ids)}; "
                     f"give a step id or a number from 1 to {count}")


@app.command()
@reports_errors
def timeline(
    script: ScriptArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the timeline as JSON.")] = False,
    max_length: MaxLength = None,
    voice: VoiceOpt = None,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Write the timeline page (no audio: for drafting) to this file.")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option("--labels", metavar="FILE", help="Write an Audacity label track of steps and cues to this file.")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Print the compiled timeline of a script: a table, or JSON with --json; --html/--labels write files."""
    from legsup_audio.output.files import check_target
    from legsup_audio.pipeline import build
    from legsup_audio.script.inputs import input_files

    if html is not None and labels is not None and html.resolve() == labels.resolve():
        raise UsageError(f"--html and --labels both name {html}; give each its own file")
    for option, target in (("--html", html), ("--labels", labels)):
        if target is not None:
            check_target(target, option=option, force=force)  # before speaking: a device or folder is refused at once
    session = build(script, progress=_progress("speaking"), max_length_ms=_max_length_ms(max_length), voice=voice)
    tl = session.timeline
    if html is not None or labels is not None:
        from legsup_audio.output.page import page_data, write_labels, write_page

        inputs = input_files(session.script)
        written = [write_page(html, page_data(tl), inputs=inputs, force=force)] if html is not None else []
        written += [write_labels(labels, tl, inputs=inputs, force=force)] if labels is not None else []
        if not as_json:
            for path in written:
                out.print(f"wrote {safe(path)}")
            return
    if as_json:
        sys.stdout.write(tl.to_json())
        return
    table = Table(title=f"{safe(tl.title)} — {format_ms(tl.duration)}", show_lines=False)
    for column in ("start", "end", "kind", "step", "line", "text"):
        table.add_column(column, no_wrap=column != "text")
    for event in tl.events:
        table.add_row(format_ms(event.start), format_ms(event.end), event.kind, safe(event.step), str(event.line),
                      safe(event.caption if event.text else " ".join(f"{key} {value}" for key, value in event.data)))
    out.print(table)


@app.command()
@reports_errors
def validate(
    scripts: Annotated[list[str], typer.Argument(metavar="SCRIPT", help="Cue scripts to check (paths or built-in names).")],
    max_length: MaxLength = None,
) -> None:
    """Check scripts and report every problem; exit 0 when all are valid."""
    from legsup_audio.pipeline import build

    limit = _max_length_ms(max_length)

    problems: list[Problem] = []
    for name in scripts:
        try:
            session = build(name, max_length_ms=limit)
        except ScriptError as exc:
            problems.extend(exc.problems)
            continue
        out.print(f"{safe(session.script.path)}: ok ({len(session.timeline.steps)} steps, "
                  f"{format_ms(session.timeline.duration)})")
        from legsup_audio.script.lint import warnings_for  # legal but probably wrong: reported, never fatal
        from legsup_audio.speech.recordings import take_warnings

        warnings = warnings_for(session.script, session.timeline, session.profile.language)
        for warning in sorted(warnings + take_warnings(session.script), key=lambda p: (p.line, p.col)):
            typer.echo(str(warning), err=True)
    if problems:
        raise ScriptError(problems)


@app.command("scripts")
@reports_errors
def list_scripts() -> None:
    """List the built-in scripts and those in ./scripts."""
    from legsup_audio.pipeline import load
    from legsup_audio.script.resources import available

    found_all = list(available("scripts"))
    # The name is what you type: never cut.  Its column is as wide as the longest name; the
    # title and path wrap (folded) into what is left, and columns that do not fit are dropped.
    name_width = max([len(safe(found.name)) for found in found_all] + [4])
    columns = ["name", "title", "steps", "origin", "path"]
    while len(columns) > 2 and name_width + 12 * (len(columns) - 1) + 3 * len(columns) + 1 > out.width:
        columns.remove({5: "path", 4: "origin", 3: "steps"}[len(columns)])
    table = Table(show_header=True, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column == "name", min_width=name_width if column == "name" else None,
                         overflow="fold")
    for found in found_all:
        try:
            script = load(found)
            title, steps = script.title, str(len(script.steps))
        except ScriptError as exc:
            title, steps = f"[red]invalid: {len(exc.problems)} problem(s)[/red]", "-"
        cells = {"name": safe(found.name), "title": title if title.startswith("[red]") else safe(title),
                 "steps": steps, "origin": found.origin, "path": safe(found.path)}
        table.add_row(*(cells[column] for column in columns))
    if name_width + 4 + 3 * 2 + 1 > out.width:  # not even name and a sliver of title: one per line
        for found in found_all:
            out.print(safe(found.name))
        return
    out.print(table)


register_authoring(app)  # new, schema, voices (+ voices try)
register_recordings(app)  # recordings: the cue sheet for your own voice
from legsup_audio.share.command import serve as _serve  # noqa: E402

app.command("serve")(reports_errors(_serve))  # shares exports with phones: legsup_audio/share/


def main() -> None:
    # SIGTERM unwinds like Ctrl-C, so temporary files are removed and the target left as it was.
    signal.signal(signal.SIGTERM, _terminated)
    app()


def _terminated(signum: int, frame: object) -> None:
    raise Stopped("legsup: stopped (terminated)", exit_code=128 + signum)


if __name__ == "__main__":
    main()
