"""The commands for writing your own sessions: ``new``, ``schema``, ``voices`` and ``voices try``.

A thin typer layer like ``cli`` (which registers these on its app): each command
parses its options and calls one library function (``scaffold``, ``schema``,
``voices``).  ``voices try`` speaks a sample through the same pipeline as a
session (a one-cue script), so what you hear is what an export would sound like.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from legsup_audio.cli.common import HelpGroup, out, reports_errors, safe
from legsup_audio.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add ``new``, ``schema`` and the ``voices`` group (with ``voices try``) to ``app``."""

    @app.command()
    @reports_errors
    def new(
        name: Annotated[str, typer.Argument(metavar="NAME", help="The new script's name: writes scripts/NAME.yaml.")],
        source: Annotated[
            str | None, typer.Option("--from", metavar="SCRIPT", help="The script to copy (a built-in name or a path). "
                                                    "Default: legs-up-the-wall.")
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="Overwrite scripts/NAME.yaml if it exists.")] = False,
    ) -> None:
        """Write scripts/NAME.yaml: a commented copy of a script to make your own."""
        from legsup_audio.pipeline import load
        from legsup_audio.script.scaffold import new_script

        written = new_script(name, source, check=load, force=force)
        verb = "replaced" if written.replaced else "wrote"
        out.print(f"{verb} {_rel(written.path)} (a commented copy of '{written.source.name}'); "
                  f"check it with: legsup validate {_rel(written.path)}")

    @app.command()
    @reports_errors
    def schema(
        output: Annotated[Path | None, typer.Option("-o", "--output", metavar="FILE", help="Write it to this file instead.")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace FILE even when it is read-only.")] = False,
    ) -> None:
        """Print the JSON Schema of cue scripts (for editors: see the README)."""
        from legsup_audio.script.schema import schema_json

        if output is None:
            typer.echo(schema_json(), nl=False)
            return
        from legsup_audio.output.files import check_target, write_text_atomic

        check_target(output, force=force)
        write_text_atomic(output, schema_json())
        out.print(f"wrote {output}")

    voices_app = typer.Typer(
        invoke_without_command=True, no_args_is_help=False, cls=HelpGroup,
        help="List voice profiles and the engines' installed voices, by language; `voices try` plays one.",
    )

    @voices_app.callback()
    def voices(
        ctx: typer.Context,
        installed: Annotated[
            bool, typer.Option("--installed/--profiles-only", help="Also list the engines' voices.")
        ] = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print profiles and engines as JSON.")] = False,
    ) -> None:
        """List voice profiles and each speech engine's installed voices, by language."""
        if ctx.invoked_subcommand is None:
            list_voices(installed=installed, as_json=as_json)

    @voices_app.command("try")
    @reports_errors
    def try_voice(
        profile: Annotated[str, typer.Argument(metavar="PROFILE", help="A voice profile (see `legsup voices`).")],
        text: Annotated[str | None, typer.Argument(metavar="TEXT", help="What to say. Default: a sample in the profile's language.")] = None,
        output: Annotated[
            Path | None, typer.Option("-o", "--output", metavar="FILE", help="Write the sample to this file (.mp3, .m4a, .ogg or "
                                                             ".wav) instead of playing it.")
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace FILE even when it is read-only.")] = False,
    ) -> None:
        """Speak a sample with a voice profile, through the sound card or into a file."""
        fmt = None
        if output is not None:
            from legsup_audio.output.encode import FORMATS
            from legsup_audio.output.files import check_target

            fmt = output.suffix.lstrip(".").lower()
            if fmt not in FORMATS:
                raise UsageError(f"cannot tell the format of '{output}': end it with "
                                 f"{', '.join('.' + f for f in FORMATS)}")
            check_target(output, force=force)  # before speaking
        session = sample_session(profile, text)
        if output is not None and fmt is not None:
            from legsup_audio.output.export import export_session

            result = export_session(session, output, fmt=fmt, sidecars=False, force=force)
            out.print(f"wrote {result.path} ({session.profile.name}: {session.profile.voice})")
            return
        from legsup_audio.output.encode import mastering_target
        from legsup_audio.pipeline import mastered
        from legsup_audio.playback import SimpleaudioPlayer, play_session

        source, _ = mastered(session, mastering_target("wav"))
        sample = next((e for e in session.timeline.events if e.kind == "speech"), None)
        said = safe(sample.caption) if sample is not None else ""  # as read: no pause marks, no [markup]
        out.print(f"{safe(session.profile.name)} ({safe(session.profile.voice)}): {said}")
        raise typer.Exit(play_session(session.timeline, source, player=SimpleaudioPlayer(), interactive=False,
                                      out=io.StringIO()))

    app.add_typer(voices_app, name="voices")


@reports_errors
def list_voices(
    installed: Annotated[bool, typer.Option("--installed/--profiles-only", help="Also list the engines' voices.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print profiles and engines as JSON.")] = False,
) -> None:
    """List voice profiles and each speech engine's installed voices."""

    from legsup_audio.script.resources import available
    from legsup_audio.speech.engines import installed_voices
    from legsup_audio.speech.voices import load_profile

    profiles = sorted((load_profile(found.path, found.name) for found in available("voices")),
                      key=lambda p: (p.language or "?", p.name))
    engines = {name: installed_voices(name) for name in ("piper", "espeak")} if installed else {}
    if as_json:
        sys.stdout.write(json.dumps({
            "profiles": [p.summary() for p in profiles],
            "engines": [{"engine": name, "voices": [{"id": v.id, "name": v.name, "languages": list(v.languages)}
                                                    for v in found]}
                        for name, found in engines.items()],
        }, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(title="Voice profiles")
    for column in ("language", "profile", "engine", "voice", "pace", "pitch", "description"):
        table.add_column(column)
    for p in profiles:
        pace = (f"{p.pace:g}x" if p.pace else "") if p.engine == "piper" else f"{p.rate} wpm"
        voice = Path(p.voice).name if p.engine == "piper" else p.voice
        table.add_row(p.language or "?", p.name, p.engine, voice, pace, "" if p.pitch is None else str(p.pitch),
                      p.description)
    out.print(table)
    for name, voices in engines.items():
        by_lang: dict[str, list[str]] = {}
        for v in voices:
            by_lang.setdefault(v.languages[0] if v.languages else "?", []).append(v.id)
        table = Table(title=f"{name} voices ({len(voices)})")
        table.add_column("language")
        table.add_column("voice ids")
        for lang in sorted(by_lang):
            table.add_row(lang, ", ".join(sorted(by_lang[lang])))
        out.print(table)


def sample_session(profile_name: str, text: str | None = None):  # noqa: ANN201 - a pipeline Session
    """A one-cue session that says ``text`` (or the profile language's sample) with a profile."""
    from legsup_audio.script.languages import sample_text
    from legsup_audio.script.suggest import suggest
    from legsup_audio.pipeline import build
    from legsup_audio.speech.voices import get_profile, profile_names

    names = profile_names()
    if profile_name not in names:
        raise UsageError(f"no voice profile named '{profile_name}'{suggest(profile_name, names)}; "
                         f"known: {', '.join(names)}")
    profile = get_profile(profile_name)
    text = " ".join((text or sample_text(profile.language)).split())
    if not text:
        raise UsageError("give some text to say, or leave it out for a sample")
    with tempfile.TemporaryDirectory(prefix="legsup-try-") as tmp:
        path = Path(tmp) / "voice-sample.yaml"
        body = {"title": f"Voice sample: {profile_name}", "voice": profile_name, "lead_in": "0.3s",
                "tail": "0.7s", "steps": [{"title": "Sample", "cues": [{"say": text, "gap": 0}]}]}
        path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
        return build(path)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
