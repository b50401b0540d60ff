"""Reading YAML for the script stage: safe loading with positions, and typed readers.

Owns reading a file (UTF-8 only, within ``limits.MAX_FILE_BYTES``), YAML syntax errors,
refusing tags, anchors and aliases (PyYAML's safe composer driven event by event, so
node positions survive and nothing in a script can run code), the nesting limit, and
the small readers (mapping, keys, text, duration) that turn a node into a value or a
problem in ``Ctx``.  It knows no cue-script keys: ``parse`` and the block parsers in
``script.blocks`` use it.
"""

from __future__ import annotations

import stat
import unicodedata
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from legsup_audio.errors import Problem, ScriptError
from legsup_audio.model import Pos
from legsup_audio.script.limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_TEXT_CHARS
from legsup_audio.script.suggest import suggest
from legsup_audio.script.yaml_words import plain_words, run_on_item
from legsup_audio.units import HINT, parse_duration

NOT_YET: dict[str, str] = {}
_MAX_DURATION_CHARS = 40  # '1h 59m 59.999s' and friends fit many times over
_CORE_TAG = "tag:yaml.org,2002:"


@dataclass
class Ctx:
    """Where problems are collected while one file is parsed."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    source: Path | None = None  # the script's path: relative paths in it are resolved against its folder
    cues: int = 0  # cues read so far, for the MAX_CUES limit
    lines: list[str] = field(default_factory=list)  # the text's lines, for messages that quote what is written

    def error(self, node: Node | None, message: str) -> None:
        line, col = _where(node)
        self.problems.append(Problem(self.file, line, col, message))

    def pos(self, node: Node) -> Pos:
        return Pos(*_where(node))


def _where(node: Node | None) -> tuple[int, int]:
    if node is None:
        return 1, 1
    return node.start_mark.line + 1, node.start_mark.column + 1





def read_mapping(node: Node, ctx: Ctx, what: str) -> dict[str, tuple[Node, Node]] | None:
    """The entries of a mapping node by key, reporting duplicates; None if not a mapping."""
    if not isinstance(node, MappingNode):
        ctx.error(node, f"{what} must be a mapping of keys to values, not {kind_of(node)}")
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


def read_text(node: Node, ctx: Ctx, what: str, fix: str = "shorten it", spoken: bool = False) -> str | None:
    """A non-empty line of text; numbers and words like `yes` are taken as written.

    ``spoken`` text must hold something a voice can say (a letter or a digit): text of
    only punctuation or symbols (``...``, ``—``, an emoji) speaks as nothing."""
    if not isinstance(node, ScalarNode):
        ctx.error(node, f"{what} must be text, not {kind_of(node)}")
        return None
    if node.tag == "tag:yaml.org,2002:null" and node.value in ("", "~", "null", "Null", "NULL"):
        ctx.error(node, f"{what} is empty{_comment_hint(node, ctx)}")
        return None
    text = " ".join(node.value.split())
    if not text:
        ctx.error(node, f"{what} is empty")
        return None
    if len(text) > MAX_TEXT_CHARS:
        ctx.error(node, f"{what} is {len(text):,} characters long, over the limit of {MAX_TEXT_CHARS:,}; {fix}")
        return None
    if spoken and not speakable(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        ctx.error(node, f"'{shown}' has nothing a voice can say (no letters or digits); write words, "
                        f"or use `pause:` for silence")
        return None
    return text


def _comment_hint(node: Node, ctx: Ctx) -> str:
    """Why an empty value may not look empty: a '#' right after it starts a comment."""
    line = node.start_mark.line
    rest = ctx.lines[line][node.start_mark.column:] if line < len(ctx.lines) else ""
    if not node.value and rest.lstrip().startswith("#"):
        return ": '#' starts a comment, so what follows it is not read; to say text that starts with '#', put it " \
               "in quotes"
    return ""


def speakable(text: str) -> bool:
    """True when ``text`` holds a letter or a digit of any script: something a voice says."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text`` (from a ``\\ud800`` escape: no character, cannot be written), or None."""
    for ch in text:
        if "\ud800" <= ch <= "\udfff":
            return ch
    return None


def read_duration(node: Node, ctx: Ctx, what: str) -> int | None:
    if not isinstance(node, ScalarNode):
        ctx.error(node, f"{what} must be a duration, not {kind_of(node)}")
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


def kind_of(node: Node) -> str:
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
    ctx.lines = text.split("\n")
    try:
        events: list[yaml.Event] = []
        depth = flow = 0  # nesting, and nesting inside [...] or {...}
        run_ons: list[Problem] = []
        for event in _parse_events(text):
            if (problem := _refused(event, depth)) is not None:
                ctx.error(_mark_node(event), problem)
                return None
            if isinstance(event, yaml.ScalarEvent) and not flow and (run_on := run_on_item(event, ctx.lines)):
                run_ons.append(Problem(ctx.file, run_on.line, run_on.col, run_on.message))
            if isinstance(event, yaml.ScalarEvent) and (bad := lone_surrogate(event.value)) is not None:
                ctx.error(_mark_node(event), f"this text holds the escape '\\u{ord(bad):04x}', half of a surrogate "
                                             "pair, which is no character and cannot be written to a file; remove it "
                                             "(for a character past U+FFFF write it as itself, or as \\U0001xxxx)")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                flow += bool(event.flow_style) or bool(flow)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                flow = max(0, flow - 1)
            events.append(event)
        ctx.problems.extend(run_ons)  # only when the text parsed: a syntax error explains them better
        return _EventComposer(events).get_single_node()
    except yaml.MarkedYAMLError as exc:
        plain = plain_words(exc, text)
        ctx.problems.append(Problem(ctx.file, plain.line, plain.col, plain.message))
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
        return ("YAML anchors and aliases (& and *) are not allowed in cue scripts; text that starts with '&' "
                "or '*' must be in quotes")
    tag = getattr(event, "tag", None)
    if tag is not None:
        shown = "!!" + tag[len(_CORE_TAG):] if tag.startswith(_CORE_TAG) else tag
        value = getattr(event, "value", "")
        text = f"{shown} {value}".strip() if isinstance(event, yaml.ScalarEvent) else shown
        return (f"YAML tags such as '{shown}' are not allowed in cue scripts (a script is plain data): remove the "
                f"tag, or, if it is text, put it in quotes: \"{text}\"")
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


def too_big(display: str) -> ScriptError:
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
            raise too_big(display)
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # files in /proc and the like report a size of 0
    except FileNotFoundError:
        raise ScriptError([Problem(display, 1, 1, "no such file")]) from None
    except OSError as exc:
        raise ScriptError([Problem(display, 1, 1, f"cannot be read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise too_big(display)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1  # characters, as YAML counts
        raise ScriptError([Problem(display, line, col, "the file is not UTF-8 text; save it as UTF-8")]) from None
