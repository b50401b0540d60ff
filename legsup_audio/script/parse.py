"""Parse stage: cue-script YAML text to a typed, validated ``CueScript``.

Owns reading the file (UTF-8 only), YAML syntax errors, and every structural
rule of SPEC section 2: allowed keys, types, durations, ids, empty steps and
empty text.  It collects *every* problem, each pinned to ``FILE:LINE:COL``, and
raises one ``ScriptError`` carrying them all.  YAML is read with PyYAML's safe
composer, so node positions survive and nothing in a script can run code; tags,
anchors and aliases are refused outright.  It enforces the size limits of
``limits`` (file size, nesting, cue count, text length) before they can cost
memory or time.  It does not know clip lengths, so timing rules that need them
live in ``compile``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from legsup_audio.errors import Problem, ScriptError
from legsup_audio.model import (
    DEFAULT_GAP_MS,
    DEFAULT_LEAD_IN_MS,
    DEFAULT_TAIL_MS,
    DEFAULT_VOICE,
    Cue,
    CueScript,
    Pause,
    Say,
    Step,
    Wait,
)
from legsup_audio.script.blocks.background import parse_script_background, parse_step_background
from legsup_audio.script.blocks.breathe import parse_breathe
from legsup_audio.script.limits import MAX_CUES, MAX_FILE_BYTES
from legsup_audio.script.reading import (
    Ctx,
    kind_of,
    too_big,
    check_keys,
    file_problem,
    load_yaml,
    read_duration,
    read_mapping,
    read_source,
    read_text,
)
from legsup_audio.script.suggest import suggest

SCRIPT_KEYS = ("version", "title", "author", "album", "cover", "language", "voice", "recordings", "gap", "lead_in",
               "tail", "steps")
STEP_KEYS = ("title", "id", "duration", "cues")
CUE_KEYS = ("say", "gap", "at", "pause")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

#: The parsers of the blocks a script or a step may hold besides its own keys, by YAML
#: key, in the order their results are kept (a new block adds its parser here and its
#: compiler in ``compile.compiler``).  Each gets the value node and the context and
#: returns the parsed block, or None after reporting its problems to the context.
BlockParser = Callable[[Node, Ctx], Any]
SCRIPT_BLOCKS: dict[str, BlockParser] = {
    "background": parse_script_background,
}
STEP_BLOCKS: dict[str, BlockParser] = {
    "breathe": parse_breathe,
    "background": parse_step_background,
}


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def parse_script(
    path: str | Path,
    *,
    known_voices: Collection[str] | None = None,
    script_id: str | None = None,
    display: str | None = None,
    text: str | None = None,
) -> CueScript:
    """Read and validate one cue script; raises ``ScriptError`` with every problem."""
    path = Path(path)
    display = display or str(path)
    ctx = Ctx(display, source=path)
    source = text if text is not None else read_source(path, display)
    if text is not None and len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise too_big(display)
    root = load_yaml(source, ctx)
    if root is None and not ctx.problems:
        ctx.error(None, "the file is empty: a cue script needs at least a title and steps")
    if ctx.problems:
        raise ScriptError(ctx.problems)
    assert root is not None
    script = _script(root, ctx, path, script_id or path.stem, known_voices)
    if ctx.problems or script is None:
        raise ScriptError(ctx.problems)
    return script


def _script(
    root: Node, ctx: Ctx, path: Path, script_id: str, known_voices: Collection[str] | None
) -> CueScript | None:
    entries = read_mapping(root, ctx, "a cue script")
    if entries is None:
        return None
    check_keys(entries, SCRIPT_KEYS, ctx, "the script", SCRIPT_BLOCKS)
    for key in ("title", "steps"):
        if key not in entries and not _misspelt(key, entries, [*SCRIPT_KEYS, *SCRIPT_BLOCKS]):
            ctx.error(root, f"the script has no '{key}'")

    def value(key: str) -> Node | None:
        return entries[key][1] if key in entries else None

    if (node := value("version")) is not None and not (isinstance(node, ScalarNode) and node.value == "1"):
        ctx.error(node, "this version of legsup reads cue scripts of version 1")
    title = read_text(node, ctx, "title") if (node := value("title")) is not None else None
    author = read_text(node, ctx, "author") if (node := value("author")) is not None else None
    album = read_text(node, ctx, "album") if (node := value("album")) is not None else None
    cover = None
    if (node := value("cover")) is not None and (name := read_text(node, ctx, "cover")) is not None:
        cover = path.parent / Path(name).expanduser()
        if (why := file_problem(cover)) == "not found":
            ctx.error(node, f"cover image '{name}' not found (looked for {cover}); give a PNG or JPEG "
                      "path relative to the script")
        elif why is not None:
            ctx.error(node, f"cover image {cover} {why}; give a PNG or JPEG path relative to the script")
        else:
            from legsup_audio.script.media import cover_problem

            if (why := cover_problem(cover)[0]) is not None:
                ctx.error(node, f"cover image {cover} {why}")
    voice, voice_pos = DEFAULT_VOICE, None
    if (node := value("voice")) is not None:
        voice = read_text(node, ctx, "voice") or DEFAULT_VOICE
        voice_pos = ctx.pos(node)
        if known_voices is not None and voice not in known_voices:
            ctx.error(node, f"unknown voice profile '{voice}'{suggest(voice, known_voices)}; "
                      f"known profiles: {', '.join(sorted(known_voices))}")
    language = None
    if (node := value("language")) is not None:
        from legsup_audio.script.languages import check_language

        language, voice = check_language(node, ctx, voice, voice_pos, known_voices)
    recordings, recordings_pos = None, None
    if (node := value("recordings")) is not None and (name := read_text(node, ctx, "recordings")) is not None:
        recordings, recordings_pos = path.parent / Path(name).expanduser(), ctx.pos(node)
        if (why := file_problem(recordings)) not in (None, "not found", "is a folder, not a file"):
            ctx.error(node, f"recordings: {recordings} {why}; give the folder of recorded cues, relative to the "
                      "script (a missing folder is fine: `legsup recordings SCRIPT` makes it)")
        elif why is None:
            ctx.error(node, f"recordings: {recordings} is a file, not a folder; give the folder of recorded cues, "
                      "relative to the script (`legsup recordings SCRIPT` makes it)")
    timing = {}
    for key, default in (("gap", DEFAULT_GAP_MS), ("lead_in", DEFAULT_LEAD_IN_MS), ("tail", DEFAULT_TAIL_MS)):
        node = value(key)
        timing[key] = default if node is None else read_duration(node, ctx, key)
    extras = tuple(
        (key, parser(entries[key][1], ctx)) for key, parser in SCRIPT_BLOCKS.items() if key in entries
    )
    steps: list[Step] = []
    if (node := value("steps")) is not None:
        steps = _steps(node, ctx)
    if ctx.problems or title is None:
        return None
    return CueScript(
        path=path,
        id=script_id,
        title=title,
        steps=tuple(steps),
        author=author,
        album=album,
        cover=cover,
        voice=voice,
        voice_pos=voice_pos,
        language=language,
        recordings=recordings,
        recordings_pos=recordings_pos,
        gap=timing["gap"] or 0,
        lead_in=timing["lead_in"] or 0,
        tail=timing["tail"] or 0,
        extras=extras,
    )


def _misspelt(key: str, entries: dict[str, tuple[Node, Node]], known: list[str]) -> bool:
    """True when an unknown key in ``entries`` is a near miss of the missing ``key`` (already reported as such)."""
    from legsup_audio.script.suggest import closest

    return any(name not in known and closest(name, known) == key for name in entries)


def _steps(node: Node, ctx: Ctx) -> list[Step]:
    if not isinstance(node, SequenceNode):
        ctx.error(node, f"steps must be a list of steps (each starting with '- title:'), not {kind_of(node)}")
        return []
    if not node.value:
        ctx.error(node, "steps is empty: a script needs at least one step")
        return []
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(node.value, start=1):
        step = _step(item, ctx, index)
        if step is None:
            continue
        if step.id in seen:
            id_node_line = step.pos.line
            ctx.problems.append(Problem(ctx.file, id_node_line, step.pos.col,
                                        f"duplicate step id '{step.id}' (also used by the step on line "
                                        f"{seen[step.id]}); give one of them its own 'id:'"))
            continue
        seen[step.id] = step.pos.line
        steps.append(step)
    return steps


def _step(node: Node, ctx: Ctx, index: int) -> Step | None:
    entries = read_mapping(node, ctx, f"step {index}")
    if entries is None:
        return None
    before = len(ctx.problems)
    check_keys(entries, STEP_KEYS, ctx, f"step {index}", STEP_BLOCKS)
    title = None
    if "title" in entries:
        title = read_text(entries["title"][1], ctx, "the step's title")
    elif not _misspelt("title", entries, [*STEP_KEYS, *STEP_BLOCKS]):  # `tittle:` is one error, not two
        ctx.error(node, f"step {index} has no 'title'")
    step_id = None
    pos = ctx.pos(node)
    if "id" in entries:
        id_node = entries["id"][1]
        step_id = read_text(id_node, ctx, "the step's id")
        pos = ctx.pos(id_node)
        if step_id is not None and not _ID.match(step_id):
            ctx.error(id_node, f"step id '{step_id}' may hold only letters, digits, '-' and '_'")
    elif title is not None:
        step_id = slug(title) or f"step-{index}"
    duration = read_duration(entries["duration"][1], ctx, "duration") if "duration" in entries else None
    cues: list[Cue] = []
    if "cues" in entries:
        cues = _cues(entries["cues"][1], ctx)
    extras = tuple((key, parser(entries[key][1], ctx)) for key, parser in STEP_BLOCKS.items() if key in entries)
    has_block = any(value is not None for _, value in extras)
    if "cues" not in entries and not has_block and len(ctx.problems) == before:
        ctx.error(node, f"step {index} is empty: give it 'cues:' (a silent step is `cues: [pause: 2m]`)")
    if len(ctx.problems) > before or title is None or step_id is None:
        return None
    return Step(title=title, id=step_id, pos=pos, cues=tuple(cues), duration=duration, extras=extras)


def _cues(node: Node, ctx: Ctx) -> list[Cue]:
    if not isinstance(node, SequenceNode):
        ctx.error(node, f"cues must be a list (each cue on a line starting with '- '), not {kind_of(node)}")
        return []
    if not node.value:
        ctx.error(node, "cues is empty: give the step at least one cue")
        return []
    cues: list[Cue] = []
    for item in node.value:
        ctx.cues += 1
        if ctx.cues > MAX_CUES:
            if ctx.cues == MAX_CUES + 1:  # once: the rest are not even read
                ctx.error(item, f"this is cue {ctx.cues:,} of the script, over the limit of {MAX_CUES:,} cues; "
                                "split the session into several scripts (exported together, they make a playlist)")
            continue
        if (cue := _cue(item, ctx)) is not None:
            cues.append(cue)
    return cues


def _cue(node: Node, ctx: Ctx) -> Cue | None:
    pos = ctx.pos(node)
    if isinstance(node, ScalarNode):
        text = read_text(node, ctx, "the cue's text", fix="split it into shorter cues", spoken=True)
        return Say(text=text, pos=pos) if text is not None else None
    entries = read_mapping(node, ctx, "a cue")
    if entries is None:
        return None
    if len(entries) == 1:  # `- Remember: there is no hurry.` is a mapping to YAML: say how to keep it text
        (key, (key_node, value_node)), = entries.items()
        if key not in CUE_KEYS and isinstance(value_node, ScalarNode) and not suggest(key, CUE_KEYS):
            line = f"{key}: {value_node.value}" if value_node.value else f"{key}:"
            ctx.error(key_node, f"this cue holds ': ', so YAML reads it as a key '{key}', not text to say; "
                                f"to say it, put the whole line in quotes: - \"{line}\"")
            return None
    check_keys(entries, CUE_KEYS, ctx, "a cue")
    has = {key: key in entries for key in CUE_KEYS}
    if has["say"] and has["pause"]:
        ctx.error(entries["pause"][0], "a cue either says something or pauses: split 'say' and 'pause' "
                                       "into two cues")
        return None
    if has["pause"] and (has["at"] or has["gap"]):
        other = "at" if has["at"] else "gap"
        ctx.error(entries[other][0], f"'{other}' does not go with 'pause'")
        return None
    if has["gap"] and not has["say"]:
        ctx.error(entries["gap"][0], "'gap' goes with 'say': it is the silence after a spoken cue")
        return None
    if not (has["say"] or has["pause"] or has["at"]):
        if entries:
            return None  # only unknown keys: already reported
        ctx.error(node, "an empty cue: write text, or 'say:', 'pause:' or 'at:'")
        return None
    at = at_pos = None
    if has["at"]:
        at_node = entries["at"][1]
        at, at_pos = read_duration(at_node, ctx, "at"), ctx.pos(at_node)
    if has["pause"]:
        length = read_duration(entries["pause"][1], ctx, "pause")
        written = entries["pause"][1].value if isinstance(entries["pause"][1], ScalarNode) else ""
        return Pause(length, pos, written.strip()) if length is not None else None
    if not has["say"]:
        return Wait(at, pos) if at is not None else None
    text = read_text(entries["say"][1], ctx, "'say'", fix="split it into shorter cues", spoken=True)
    gap = read_duration(entries["gap"][1], ctx, "gap") if has["gap"] else None
    if text is None or (has["gap"] and gap is None) or (has["at"] and at is None):
        return None
    return Say(text=text, pos=pos, gap=gap, at=at, at_pos=at_pos)

