"""``legsup new``: a commented copy of a script to start your own session from.

Owns writing ``scripts/NAME.yaml`` under the current folder: the source script's
text, unchanged line for line, with a short comment above the first use of each
key explaining it where it is used, the ``yaml-language-server`` schema comment
on the first line, and ``scripts/cue-script.schema.json`` beside it so editors
find the schema offline.  It never overwrites a script unless asked (``force``);
the schema copy is always refreshed, as it belongs to the installed legsup.
The comments are placed by walking the YAML nodes, so a key is explained only
where it starts a line.  The copy is the same session under its own name: its
``title`` is made from NAME (``evening-short`` -> "Evening short"), a built-in's
``author: legsup-audio`` credit is left as a comment for you to fill in, and paths
that are relative to the script (``cover``, ``recordings``, a music ``file``) are
rewritten so they still name the same files from ``scripts/``.  Everything else
(steps, cues, timing, voice, background) is kept as written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from legsup_audio.errors import OutputError, UsageError
from legsup_audio.output.files import check_target, replace_with
from legsup_audio.script.resources import Found, resolve_script, user_dir
from legsup_audio.script.schema import MODELINE, SCHEMA_FILE, schema_json

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Longest script name: with ``.yaml`` and a temporary file's marks it stays under any file system's 255.
MAX_NAME_CHARS = 100

#: What each key means, by where it is used.
SCRIPT_HELP = {
    "version": "the cue-script format version; 1 is the only one so far",
    "title": "required: the session's title, and the track's title when exported",
    "author": "optional: the track's artist",
    "album": "optional: the album tag (default: legsup-audio)",
    "cover": "optional: a PNG or JPEG for cover art, relative to this file",
    "language": "optional: the language of the text (en, es, de...); without `voice:` it picks a profile that speaks it",
    "voice": "optional: a voice profile; `legsup voices` lists them, `legsup voices try NAME` plays one",
    "gap": "optional: the silence after every spoken cue (default 1.5s); durations: 1.5s, 90s, 2m, 1m30s, 1:30",
    "lead_in": "optional: the silence before the first step (default 1s)",
    "tail": "optional: the silence after the last step (default 3s)",
    "background": "optional: a sound bed under the voice (drone, noise, music, bells...); see the README",
    "steps": "required: the steps in order; each becomes a chapter of the exported file",
}
STEP_HELP = {
    "title": "a step: `title` is required and becomes the chapter's title",
    "id": "optional: a short unique name for the step (default: made from the title); "
          "`legsup play --from ID` starts here",
    "duration": "optional: the step lasts at least this long, silence filling the rest",
    "cues": "what happens in the step, in order: text to say, pauses, and `at:` times",
    "breathe": "a breathing cadence: pattern (4-6, 4-7-8, box...), cycles or `for:`, guide (words, count, tone, silent)",
    "background": "optional: this step's own sound bed, replacing the layers it names (`off`: silence)",
}
CUE_HELP = {
    "say": "`say:` speaks the text like a plain line, and takes options such as its own `gap:`",
    "gap": "`gap:` under `say:` is the silence after that cue, instead of the script's gap",
    "pause": "`pause:` is silence: the next cue starts this much later",
    "at": "`at:` starts the cue exactly this long after the step began (never earlier than the cue before ends)",
}
PLAIN_CUE_HELP = "a plain line of text is spoken, then the script's `gap` of silence follows"


@dataclass(frozen=True)
class Written:
    path: Path
    source: Found
    schema: Path
    replaced: bool


def new_script(name: str, source: str | None = None, *, check: Callable[[Found], object], force: bool = False,
               cwd: Path | None = None) -> Written:
    """Write ``scripts/NAME.yaml``: a commented copy of ``source`` (default: the built-in session).

    ``check`` loads the source and raises its problems (``pipeline.load``, which knows the
    voice profiles): the copy must start valid."""
    if name.endswith((".yaml", ".yml")):
        name = name.rsplit(".", 1)[0]
    if not NAME.match(name):
        raise UsageError(f"'{name}' cannot name a script: use letters, digits, '-' and '_' (like evening-short)")
    if len(name) > MAX_NAME_CHARS:
        raise UsageError(f"a script name of {len(name)} characters is too long: give one of at most "
                         f"{MAX_NAME_CHARS} (like evening-short)")
    found = resolve_script(source, cwd)
    check(found)  # the copy must start valid: a broken source is reported, not copied
    folder = user_dir("scripts", cwd)
    dest = folder / f"{name}.yaml"
    check_target(dest, inputs=[found.path], option="", force=True)  # a copy over its own source, a FIFO: refused
    existed = dest.exists()
    if existed and not force:
        raise UsageError(f"{_show(dest, cwd)} already exists; pass --force to overwrite it")
    source_text = found.path.read_text(encoding="utf-8-sig")
    text = annotate(made_own(source_text, name, found, folder), name, found.name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(dest, text)
        schema_path = folder / SCHEMA_FILE
        if not schema_path.exists() or schema_path.read_text(encoding="utf-8") != schema_json():
            _write(schema_path, schema_json())
    except OSError as exc:
        raise OutputError(f"cannot write {_show(dest, cwd)}: {exc.strerror or exc}") from None
    return Written(dest, found, schema_path, existed)


def _write(path: Path, text: str) -> None:
    replace_with(path, lambda f: f.write(text.encode("utf-8")), prefix=f".{path.name}.", suffix=".tmp")


def _show(path: Path, cwd: Path | None) -> str:
    try:
        return str(path.relative_to(cwd or Path.cwd()))
    except ValueError:
        return str(path)


#: The credit the built-in scripts carry: a copy is yours, so it is not copied as yours.
BUILTIN_AUTHOR = "legsup-audio"
AUTHOR_PLACEHOLDER = "# author: Your name    (the track's artist: write yours and remove the '#')"
#: Script-relative paths a copy must keep pointing at: top-level keys, and ``file`` under ``music``.
_PATH_KEYS = ("cover", "recordings")


def title_for(name: str) -> str:
    """The title a new script named ``name`` starts with: ``evening-short`` -> "Evening short"."""
    words = " ".join(re.split(r"[-_]+", name)).strip() or name
    return words[:1].upper() + words[1:]


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar on one line: plain when that reads back the same, else double-quoted."""
    try:
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ]*", text) and yaml.safe_load(text) == text:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def made_own(text: str, name: str, source: Found, folder: Path) -> str:
    """``text`` (a script) as the start of the new script ``name`` in ``folder``: its own title,
    no built-in's author credit, and script-relative paths rewritten for the new folder."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, MappingNode):
        return text
    edits: list[tuple[int, int, str]] = []  # (start index, end index, replacement) in text
    source_dir = source.path.parent.resolve()
    target_dir = folder.resolve()

    def repath(value: Node) -> None:
        if not isinstance(value, ScalarNode) or not value.value or Path(value.value).is_absolute():
            return
        if source_dir == target_dir:
            return
        moved = os.path.relpath(source_dir / value.value, target_dir)
        edits.append((value.start_mark.index, value.end_mark.index, _scalar(Path(moved).as_posix())))

    for key, value in root.value:
        if not isinstance(key, ScalarNode):
            continue
        if key.value == "title" and isinstance(value, ScalarNode):
            edits.append((value.start_mark.index, value.end_mark.index, _scalar(title_for(name))))
        elif (key.value == "author" and source.origin == "built-in" and isinstance(value, ScalarNode)
              and value.value == BUILTIN_AUTHOR and key.start_mark.column == 0):
            edits.append((key.start_mark.index, value.end_mark.index, AUTHOR_PLACEHOLDER))
        elif key.value in _PATH_KEYS:
            repath(value)
        elif key.value in ("background", "steps"):
            for music in _music_blocks(value):
                for music_key, music_value in music.value:
                    if isinstance(music_key, ScalarNode) and music_key.value == "file":
                        repath(music_value)
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _music_blocks(node: Node) -> list[MappingNode]:
    """Every ``music:`` mapping under ``node`` (the script's background, or the steps' own)."""
    found: list[MappingNode] = []
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == "music" and isinstance(value, MappingNode):
                found.append(value)
            else:
                found.extend(_music_blocks(value))
    elif isinstance(node, SequenceNode):
        for item in node.value:
            found.extend(_music_blocks(item))
    return found


def annotate(text: str, name: str, source_name: str) -> str:
    """The script's text with the modeline, a header, and a comment above each key's first use."""
    lines = text.splitlines()
    if lines and lines[0].startswith("# yaml-language-server:"):
        lines = lines[1:]
    body = "\n".join(lines) + "\n"
    notes: dict[int, list[str]] = {}
    seen: set[tuple[str, str]] = set()

    def note(node: Node, where: str, key: str, message: str) -> None:
        if (where, key) in seen:
            return
        line, col = node.start_mark.line, node.start_mark.column
        prefix = lines[line][:col] if line < len(lines) else ""
        if prefix.strip(" -") != "":  # the key does not start its line (a flow mapping): no room above it
            return
        seen.add((where, key))
        indent = len(prefix) - len(prefix.lstrip(" "))
        notes.setdefault(line, []).append(" " * indent + "# " + message)

    root = yaml.compose(body, Loader=yaml.SafeLoader)
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if isinstance(key, ScalarNode) and key.value in SCRIPT_HELP:
                note(key, "script", key.value, f"{key.value}: {SCRIPT_HELP[key.value]}")
            if isinstance(key, ScalarNode) and key.value == "steps" and isinstance(value, SequenceNode):
                _steps(value, note)
    header = [
        MODELINE,
        f"# {name}: your own session, started as a copy of '{source_name}'.",
        f"# Check it:  legsup validate scripts/{name}.yaml     (every problem, with its line)",
        f"# Hear it:   legsup play scripts/{name}.yaml  or  legsup export scripts/{name}.yaml",
        "# The comments above each key say what it does; delete them whenever you like.",
        "",
    ]
    out: list[str] = []
    for index, line in enumerate(lines):
        out.extend(notes.get(index, []))
        out.append(line)
    return "\n".join(header + out).rstrip("\n") + "\n"


def _steps(steps: SequenceNode, note) -> None:  # noqa: ANN001 - a local callback
    for item in steps.value:
        if not isinstance(item, MappingNode):
            continue
        for key, value in item.value:
            if not isinstance(key, ScalarNode):
                continue
            if key.value in STEP_HELP:
                note(key, "step", key.value, f"{key.value}: {STEP_HELP[key.value]}" if key.value != "title"
                     else STEP_HELP["title"])
            if key.value == "cues" and isinstance(value, SequenceNode):
                for cue in value.value:
                    if isinstance(cue, ScalarNode):
                        note(cue, "cue", "<text>", PLAIN_CUE_HELP)
                    elif isinstance(cue, MappingNode):
                        for cue_key, _ in cue.value:
                            if isinstance(cue_key, ScalarNode) and cue_key.value in CUE_HELP:
                                note(cue_key, "cue", cue_key.value, CUE_HELP[cue_key.value])
