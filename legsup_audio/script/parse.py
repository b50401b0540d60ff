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

import difflib
import re
import stat
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from legsup_audio.units import HINT, parse_duration
from legsup_audio.errors import Problem, ScriptError
from legsup_audio.script.limits import MAX_CUES, MAX_DEPTH, MAX_FILE_BYTES, MAX_TEXT_CHARS
from legsup_audio.model import (
    DEFAULT_GAP_MS,
    DEFAULT_LEAD_IN_MS,
    DEFAULT_TAIL_MS,
    DEFAULT_VOICE,
    CueScript,
    Cue,
    Pause,
    Pos,
    Say,
    Step,
    Wait,
)

SCRIPT_KEYS = ("version", "title", "author", "album", "cover", "language", "voice", "gap", "lead_in", "tail", "steps")
STEP_KEYS = ("title", "id", "duration", "cues")
CUE_KEYS = ("say", "gap", "at", "pause")
#: Keys of later features, rejected with a clear message until they are built.
NOT_YET: dict[str, str] = {}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_MAX_DURATION_CHARS = 40  # '1h 59m 59.999s' and friends fit many times over
_CORE_TAG = "tag:yaml.org,2002:"

#: Extension point: parsers for blocks owned by later stages, keyed by YAML key.
#: Each gets the value node and the context and returns the parsed block (or None).
BlockParser = Callable[[Node, "Ctx"], Any]
STEP_BLOCKS: dict[str, BlockParser] = {}
SCRIPT_BLOCKS: dict[str, BlockParser] = {}


@dataclass
class Ctx:
    """Where problems are collected while one file is parsed."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    source: Path | None = None  # the script's path: relative paths in it are resolved against its folder
    cues: int = 0  # cues read so far, for the MAX_CUES limit

    def error(self, node: Node | None, message: str) -> None:
        line, col = _where(node)
        self.problems.append(Problem(self.file, line, col, message))

    def pos(self, node: Node) -> Pos:
        return Pos(*_where(node))


def _where(node: Node | None) -> tuple[int, int]:
    if node is None:
        return 1, 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def suggest(word: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


# --- small typed readers over YAML nodes -------------------------------------------


def read_mapping(node: Node, ctx: Ctx, what: str) -> dict[str, tuple[Node, Node]] | None:
    """The entries of a mapping node by key, reporting duplicates; None if not a mapping."""
    if not isinstance(node, MappingNode):
        ctx.error(node, f"{what} must be a mapping of keys to values, not {_kind(node)}")
        return None
    entries: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            ctx.error(key_node, f"keys in {what} must be plain words")
            continue
        key = key_node.value
        if key in entries:
            first = entries[key][0].start_mark.line + 1
            ctx.error(key_node, f"duplicate key '{key}' in {what} (first given on line {first})")
            continue
        entries[key] = (key_node, value_node)
    return entries


def check_keys(
    entries: dict[str, tuple[Node, Node]],
    allowed: Collection[str],
    ctx: Ctx,
    what: str,
    blocks: Collection[str] = (),
) -> None:
    for key, (key_node, _) in entries.items():
        if key in allowed or key in blocks:
            continue
        if key in NOT_YET:
            ctx.error(key_node, NOT_YET[key])
            continue
        ctx.error(key_node, f"unknown key '{key}' in {what}{suggest(key, [*allowed, *blocks])}")


def read_text(node: Node, ctx: Ctx, what: str, fix: str = "shorten it") -> str | None:
    """A non-empty line of text; numbers and words like `yes` are taken as written."""
    if not isinstance(node, ScalarNode):
        ctx.error(node, f"{what} must be text, not {_kind(node)}")
        return None
    if node.tag == "tag:yaml.org,2002:null" and node.value in ("", "~", "null", "Null", "NULL"):
        ctx.error(node, f"{what} is empty")
        return None
    text = " ".join(node.value.split())
    if not text:
        ctx.error(node, f"{what} is empty")
        return None
    if len(text) > MAX_TEXT_CHARS:
        ctx.error(node, f"{what} is {len(text):,} characters long, over the limit of {MAX_TEXT_CHARS:,}; {fix}")
        return None
    return text


def read_duration(node: Node, ctx: Ctx, what: str) -> int | None:
    if not isinstance(node, ScalarNode):
        ctx.error(node, f"{what} must be a duration, not {_kind(node)}")
        return None
    if len(node.value) > _MAX_DURATION_CHARS:  # int() of 5,000 digits raises with a message about Python
        ctx.error(node, f"{what}: '{node.value[:20]}...' is not a duration: {HINT}")
        return None
    try:
        return parse_duration(node.value)  # as written: `no` or `yes` are not durations either
    except ValueError as exc:
        ctx.error(node, f"{what}: {exc}")
        return None
    except OverflowError:  # e.g. 1e308 seconds: finite as a float, infinite in ms
        ctx.error(node, f"{what}: '{node.value}' is far too long to be a duration: {HINT}")
        return None


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as an input file (cover, music), or None when it can.

    It must be a regular file that really opens for reading: symlinks are followed,
    even out of the script's folder (a music library is often a link), but a folder,
    device or pipe is refused, since reading ``/dev/zero`` or a FIFO never ends.
    Readability is tested by opening the file, not with ``os.access``, which answers
    for the real user id and says yes to root for any file.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return "not found"
    except ValueError:  # a NUL character: no file can have this name
        return "is not a valid file name (it holds a NUL character)"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file (a device, pipe or socket)"
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return None


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    value = " ".join(node.value.split())  # a multi-line scalar is quoted on one line
    return f"'{value if len(value) <= 60 else value[:57] + '...'}'"


# --- the script ------------------------------------------------------------------------


def load_yaml(text: str, ctx: Ctx) -> Node | None:
    """Compose YAML into position-carrying nodes; reports syntax errors and what scripts may not use.

    The parser's events are read first (PyYAML's parser is iterative) and checked:
    anchors and aliases (a "billion laughs" bomb), tags (``!!python/object/...``) and
    nesting deeper than ``MAX_DEPTH`` are refused at their position, the last before
    PyYAML's recursive composer could overflow the stack.  The checked events are then
    composed into nodes without reading the text a second time.
    """
    try:
        events: list[yaml.Event] = []
        depth = 0
        for event in _parse_events(text):
            if (problem := _refused(event, depth)) is not None:
                ctx.error(_mark_node(event), problem)
                return None
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            events.append(event)
        return _EventComposer(events).get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or "invalid YAML"
        if exc.context and message.startswith("but "):  # "expected X, but found Y" reads as one
            message = f"{exc.context}, {message}"
        if "'\\t'" in message:
            message += " (indent with spaces, not tabs)"
        ctx.problems.append(Problem(ctx.file, line, col, f"YAML syntax error: {message}"))
        return None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; no mark, only a position
        before = text[: exc.position]
        line = before.count("\n") + 1
        col = exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        ctx.problems.append(Problem(ctx.file, line, col, f"the control character U+{ord(char):04X} is not "
                                                         "allowed in YAML; remove it"))
        return None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises only the two above on text
        ctx.problems.append(Problem(ctx.file, 1, 1, f"YAML error: {' '.join(str(exc).split())}"))
        return None


def _parse_events(text: str) -> Iterator[yaml.Event]:
    """The text's parser events: from libyaml when it is installed (25 times faster, which
    bounds the time a large file takes), else, or when libyaml finds an error, from PyYAML's
    own parser, whose messages are the ones we report.  Both emit the same events and node
    marks for valid YAML without tabs or empty plain values (``tests/test_fuzz.py`` checks
    this on random text); libyaml accepts some tabs that PyYAML refuses, so text with a tab
    goes to PyYAML."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None and "\t" not in text:  # libyaml lets some tabs pass that PyYAML rightly refuses
        try:
            events = list(yaml.parse(text, Loader=fast))
        except (yaml.YAMLError, UnicodeError):  # UnicodeError: a lone surrogate in text given by a caller
            pass
        else:
            # An empty plain value (`title:`) is placed differently by libyaml; its messages must
            # point where PyYAML points, so such a file is read again by PyYAML (it is rare and small).
            if not any(isinstance(e, yaml.ScalarEvent) and not e.value and e.implicit[0] for e in events):
                return iter(events)
    return yaml.parse(text, Loader=yaml.SafeLoader)


def _refused(event: yaml.Event, depth: int) -> str | None:
    """Why a cue script may not contain ``event``, or None."""
    if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
        return "YAML anchors and aliases (& and *) are not allowed in cue scripts"
    tag = getattr(event, "tag", None)
    if tag is not None:
        shown = "!!" + tag[len(_CORE_TAG):] if tag.startswith(_CORE_TAG) else tag
        return f"YAML tags such as '{shown}' are not allowed in cue scripts: a script is plain data; remove the tag"
    if isinstance(event, yaml.CollectionStartEvent) and depth >= MAX_DEPTH:
        return (f"lists and mappings are nested more than {MAX_DEPTH} levels deep here; a cue script needs "
                "only a few (is a bracket unclosed?)")
    return None


class _EventComposer(Composer, Resolver):
    """PyYAML's composer fed from a list of already-checked parser events."""

    def __init__(self, events: list[yaml.Event]) -> None:
        self._events = deque(events)
        Composer.__init__(self)
        Resolver.__init__(self)

    def check_event(self, *choices: type) -> bool:
        return bool(self._events) and (not choices or isinstance(self._events[0], choices))

    def peek_event(self) -> yaml.Event:
        return self._events[0]

    def get_event(self) -> yaml.Event:
        return self._events.popleft()


def _mark_node(event: Any) -> Node:
    return ScalarNode("tag:yaml.org,2002:str", "", event.start_mark, event.end_mark)


def _too_big(display: str) -> ScriptError:
    return ScriptError([Problem(display, 1, 1, f"the file is larger than {MAX_FILE_BYTES / 1e6:g} MB, the limit "
                                               "for a cue script (real ones are a few KB): is it really a cue script?")])


def read_source(path: Path, display: str) -> str:
    """The file's text: a regular file (never a pipe or device, which could block or never end), at most
    ``MAX_FILE_BYTES`` long, in UTF-8."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ScriptError([Problem(display, 1, 1, "is a folder, not a cue script")])
        if not stat.S_ISREG(info.st_mode):
            raise ScriptError([Problem(display, 1, 1, "is not a regular file (a device, pipe or socket); give the "
                                                      "path of a cue script file")])
        if info.st_size > MAX_FILE_BYTES:
            raise _too_big(display)
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # files in /proc and the like report a size of 0
    except FileNotFoundError:
        raise ScriptError([Problem(display, 1, 1, "no such file")]) from None
    except OSError as exc:
        raise ScriptError([Problem(display, 1, 1, f"cannot be read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(display)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1  # characters, as YAML counts
        raise ScriptError([Problem(display, line, col, "the file is not UTF-8 text; save it as UTF-8")]) from None


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
        raise _too_big(display)
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
        if key not in entries:
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
        gap=timing["gap"] or 0,
        lead_in=timing["lead_in"] or 0,
        tail=timing["tail"] or 0,
        extras=extras,
    )


def _steps(node: Node, ctx: Ctx) -> list[Step]:
    if not isinstance(node, SequenceNode):
        ctx.error(node, f"steps must be a list of steps (each starting with '- title:'), not {_kind(node)}")
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
    else:
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
        ctx.error(node, f"cues must be a list (each cue on a line starting with '- '), not {_kind(node)}")
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
        text = read_text(node, ctx, "the cue's text", fix="split it into shorter cues")
        return Say(text=text, pos=pos) if text is not None else None
    entries = read_mapping(node, ctx, "a cue")
    if entries is None:
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
        return Pause(length, pos) if length is not None else None
    if not has["say"]:
        return Wait(at, pos) if at is not None else None
    text = read_text(entries["say"][1], ctx, "'say'", fix="split it into shorter cues")
    gap = read_duration(entries["gap"][1], ctx, "gap") if has["gap"] else None
    if text is None or (has["gap"] and gap is None) or (has["at"] and at is None):
        return None
    return Say(text=text, pos=pos, gap=gap, at=at, at_pos=at_pos)


# Blocks owned by later stages register themselves in STEP_BLOCKS (and the compiler's
# registry) when imported; importing them last keeps the import graph acyclic.
import legsup_audio.compile.breathe  # noqa: E402,F401  (the `breathe:` step block)
import legsup_audio.compile.background  # noqa: E402,F401  (the `background:` block, script level and per step)
