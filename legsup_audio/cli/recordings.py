"""The ``recordings`` command: the cue sheet for recording a script in your own voice.

A thin typer layer like ``commands`` (which registers it on its app): it parses
the options, calls ``speech.recordings.write_sheet`` and prints what the folder
holds (present, missing, no longer used).  It never moves or deletes a recording.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from legsup_audio.cli.common import out, reports_errors


def register(app: typer.Typer) -> None:
    """Add ``recordings`` to ``app``."""

    @app.command()
    @reports_errors
    def recordings(
        script: Annotated[str, typer.Argument(metavar="SCRIPT", help="A cue script: a path to a .yaml file or a script's name.")],
        output: Annotated[
            Path | None, typer.Option("-o", "--output", metavar="DIR", help="The recordings folder. Default: the script's "
                                                             "`recordings:`, else recordings/<script-id>/ beside it.")
        ] = None,
    ) -> None:
        """Write DIR/cues.csv (file,line,text) and a README.txt for recording the cues in your own voice.

        Run it again after editing the script: it keeps every recording and says which are present,
        missing, or no longer used.
        """
        from legsup_audio.pipeline import load
        from legsup_audio.script.resources import resolve_script
        from legsup_audio.speech.recordings import default_folder, write_sheet
        from legsup_audio.speech.speaker import text_positions

        found = resolve_script(script)
        cue_script = load(found)
        folder = output if output is not None else default_folder(cue_script, builtin=found.origin == "built-in")
        sheet = write_sheet(cue_script, folder)
        listing = sheet.found
        total, missing = len(listing.texts), listing.missing
        out.print(f"wrote {sheet.csv_path} ({total} cue{'s' if total != 1 else ''})"
                  + (f" and {sheet.howto_path}" if sheet.wrote_howto else ""))
        if sheet.rerun or listing.present or listing.unused:
            out.print(f"present: {total - len(missing)} of {total}")
            positions = text_positions(cue_script)
            for text in missing:
                line = f"line {positions[text].line}: " if text in positions else ""
                out.print(f"missing: {listing.suggested(text)} ({line}{_short(text)})")
            for path in listing.unused:
                out.print(f"no longer used: {path.name} (kept; it matches no cue of the script)")
        if cue_script.recordings is None or _resolved(cue_script.recordings) != _resolved(folder):
            where = os.path.relpath(folder, cue_script.path.parent) if found.origin != "built-in" else None
            if where is not None:
                out.print(f"to use them, add this line to {cue_script.path}: recordings: {Path(where).as_posix()}")
            else:
                out.print(f"'{found.name}' is a built-in script: copy it with `legsup new NAME --from {found.name}` "
                          f"and add `recordings: {folder.resolve()}` to the copy to use them")


def _short(text: str, chars: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 3] + "..."


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(path))
