"""Hypothesis fuzzing of the loader and the compiler: hostile scripts fail cleanly, never crash.

Every example is written to a file and run through the path the CLI takes
(``pipeline.build``: resolve, read, parse, length check, speak with the fake engine,
compile).  The only outcomes allowed are a timeline or a ``ScriptError`` whose every
problem is one ``fuzz.yaml:LINE:COL: message`` line; any other exception is a bug.

Inputs come from three strategies: mutated real scripts (the built-in ones and the
golden fixtures, broken ones included: lines deleted, duplicated, swapped, re-indented,
values replaced by random text, numbers, durations or YAML syntax, keys inserted,
bytes truncated), structured random scripts (dicts dumped as YAML, right and wrong
values in every field), and raw text (for the parser alone, checked against PyYAML's
own parser: libyaml is used when installed and must read exactly the same events).

Clips are kept in memory (``MemoryCache``) and the fake voice speaks four times as fast
as usual (``QuickFakeEngine``: levelling a clip costs time in proportion to its length),
so a few thousand examples take well under a minute.  How many run is set by an environment variable, for a longer nightly run::

    LEGSUP_FUZZ_EXAMPLES=50000 python -m pytest tests/test_fuzz.py

(the total over the three fuzz tests; default 3,000).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from legsup_audio.errors import ScriptError
from legsup_audio.script.limits import DEFAULT_MAX_LENGTH_MS
from legsup_audio.script.reading import Ctx, load_yaml
from legsup_audio.pipeline import build
from legsup_audio.speech.base import Clip, SpeechOptions, clip_ms
from legsup_audio.speech.cache import ClipCache
from legsup_audio.speech.fake import FakeEngine

REPO = Path(__file__).resolve().parents[1]
CI_TOTAL = 3_000
TOTAL = int(os.environ.get("LEGSUP_FUZZ_EXAMPLES", CI_TOTAL))
# Shares of the total: mutations find most (they start from real structure).
SHARES = {"mutants": 0.5, "structured": 0.25, "raw": 0.25}


def fuzz_settings(name: str) -> settings:
    # CI runs the same examples every time (a red build must mean a change broke something);
    # a long run (LEGSUP_FUZZ_EXAMPLES) explores new ones.
    return settings(max_examples=max(1, int(TOTAL * SHARES[name])), deadline=None, database=None,
                    derandomize="LEGSUP_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class _MemoryRef:
    """What the compiler needs of a cached clip (its length), without a file behind it."""

    def __init__(self, frames: int, rate: int) -> None:
        self.frames, self.rate = frames, rate

    @property
    def duration_ms(self) -> int:
        return clip_ms(self.frames, self.rate)

    def with_repair(self, repair: object) -> _MemoryRef:
        return self


class MemoryCache(ClipCache):
    """Clips by key in a dict, shared by every example: the real speaker, no disk."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.gettempdir()) / "legsup-fuzz-unused")
        self.refs: dict[str, _MemoryRef] = {}

    def get(self, key: str) -> Any:
        return self.refs.get(key)

    def put(self, key: str, clip: Any) -> Any:
        self.refs[key] = _MemoryRef(clip.frames, clip.rate)
        return self.refs[key]


class QuickFakeEngine(FakeEngine):
    """The fake engine at a quarter of its clip lengths (the real ``Speaker`` still trims and levels them)."""

    id = "fake-quick"

    def synthesize(self, text: str, options: SpeechOptions) -> Clip:
        clip = super().synthesize(text, options)
        return Clip(clip.samples[: max(clip.frames // 4, 1)], clip.rate)


CACHE = MemoryCache()
ENGINE = QuickFakeEngine()
WORK = Path(tempfile.mkdtemp(prefix="legsup-fuzz-"))
SCRIPT = WORK / "fuzz.yaml"
LOCATED = re.compile(r"^fuzz\.yaml:(\d+):(\d+): \S")


def run(data: bytes) -> None:
    """Build ``data`` as the CLI would; assert it compiles or fails with located problems only."""
    SCRIPT.write_bytes(data)
    ENGINE.calls.clear()
    try:
        session = build(str(SCRIPT), cache=CACHE, engine=ENGINE)
    except ScriptError as exc:
        assert exc.problems, "a ScriptError always carries at least one problem"
        lines = data.count(b"\n") + 2
        for problem in exc.problems:
            text = str(problem).replace(str(SCRIPT), "fuzz.yaml")
            assert LOCATED.match(text), text
            assert "\n" not in text, text
            assert 1 <= problem.line <= lines and problem.col >= 1, text
            assert "Traceback" not in text and "sys.set_int_max_str_digits" not in text, text
        return
    timeline = session.timeline
    assert timeline.duration <= DEFAULT_MAX_LENGTH_MS
    starts = [event.start for event in timeline.events]
    assert starts == sorted(starts)
    assert all(0 <= event.start <= event.end <= timeline.duration for event in timeline.events)


def _bases() -> list[bytes]:
    paths = [*sorted((REPO / "scripts").glob("*.yaml")), *sorted((REPO / "tests/golden/scripts").glob("*.yaml")),
             *sorted((REPO / "tests/golden/broken").glob("*.yaml"))]
    return [p.read_bytes() for p in paths]


BASES = _bases()

WEIRD = [
    "", "[", "]", "{", "}", "[]", "{}", "~", "null", "yes", "no", "off", "true", "'", '"', "|", ">", "- x", ": x",
    "&a x", "*a", "!!python/object/apply:os.system ['true']", "!!binary aGk=", "!foo bar", "<<: {a: 1}",
    "0", "-0", "-1", ".5", "1e308", "1e-308", "nan", ".inf", "-.inf", "0x1F", "0o17", "1_000", "9" * 60,
    "1:99", "1:30:00", "99:59:59.999", "1h 2m 3s 4ms", "5000h", "0.0001s", "-2s", "2x", "4-7-8", "box", "relax",
    "0-0", "1-2-3-4-5", "0.001-0.001", "1e-9-1", "{inhale: 0, exhale: 1}", "{inhale: 1e-7, exhale: 1e-7}",
    "A2", "H9", "C-1", "-30dB", "+3dB", "0dB", "pink", "steps", "[a, b]", "[1, [2, [3]]]", "/dev/zero", ".", "..",
    "../../etc/passwd", '"\\0"', '"a\\x00b"', "x" * 300, "word " * 500, "\u202e\u200b\ufeff", "呼吸", "🧘" * 5,
    "\t", "  x", "%YAML 1.1", "---", "...", "#", "@x", "`x`",
]
KEYS = ["title", "author", "album", "cover", "language", "voice", "gap", "lead_in", "tail", "steps", "version",
        "id", "duration", "cues", "say", "at", "pause", "breathe", "pattern", "cycles", "for", "guide",
        "voice_cycles", "ramp", "to", "over", "background", "drone", "binaural", "isochronic", "noise", "music",
        "bells", "file", "level", "loop", "note", "freq", "carrier", "beat", "rate", "color", "fade_in",
        "fade_out", "duck", "off", "x", "<<", "?"]

durations = st.builds(
    lambda n, unit: f"{n}{unit}",
    st.one_of(st.integers(0, 10**7), st.floats(0, 1e7, allow_nan=False).map(lambda f: round(f, 3))),
    st.sampled_from(["", "s", "ms", "m", "h", "m30s"]),
)
scalars = st.one_of(
    st.sampled_from(WEIRD),
    st.text(max_size=20),
    st.integers(-(10**12), 10**12).map(str),
    st.floats().map(repr),
    durations,
)
KEY_VALUE = re.compile(r"^(\s*(?:- )?)([^\s:#][^:#]*?):(\s*)(.*)$")
ITEM = re.compile(r"^(\s*- )(.+)$")


def mutate(text: str, edits: list[tuple[str, int, int, str]]) -> str:
    lines = text.split("\n")
    for kind, where, other, value in edits:
        if not lines:
            lines = [""]
        i, j = where % len(lines), other % len(lines)
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "indent":
            step = other % 9 - 4  # -4 .. +4 spaces
            lines[i] = " " * step + lines[i] if step >= 0 else lines[i][-step:] if lines[i][:-step].isspace() else lines[i]
        elif kind == "tab":
            lines[i] = "\t" + lines[i]
        elif kind == "value":
            if m := KEY_VALUE.match(lines[i]):
                lines[i] = f"{m.group(1)}{m.group(2)}: {value}"
            elif m := ITEM.match(lines[i]):
                lines[i] = m.group(1) + value
        elif kind == "key":
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines.insert(i, f"{indent}{KEYS[other % len(KEYS)]}: {value}")
        elif kind == "truncate":
            joined = "\n".join(lines)
            lines = joined[: (where * 7919) % (len(joined) + 1)].split("\n")
        elif kind == "splice":
            pos = other % (len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + value + lines[i][pos:]
    return "\n".join(lines)


edit = st.tuples(
    st.sampled_from(["delete", "duplicate", "swap", "indent", "tab", "value", "value", "value", "key", "truncate",
                     "splice"]),
    st.integers(0, 10**6), st.integers(0, 10**6), scalars,
)


@fuzz_settings("mutants")
@given(base=st.sampled_from(BASES), edits=st.lists(edit, min_size=1, max_size=6))
def test_mutated_scripts_fail_cleanly(base: bytes, edits: list[tuple[str, int, int, str]]) -> None:
    text = base.decode("utf-8", "surrogateescape")  # keeps the not-UTF-8 fixture's bad bytes as they are
    run(mutate(text, edits).encode("utf-8", "surrogateescape"))


# --- structured random scripts ------------------------------------------------------------

def _maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


anything = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(), st.text(max_size=12),
              st.sampled_from(WEIRD)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=4,
)
texts = st.sampled_from(["Breathe.", "Let go.", "Find a wall.", "Rest here", "呼吸", "Ça va"]) | st.text(max_size=40)
duration_values = st.one_of(durations, st.integers(0, 10**6), st.floats(0, 1e5, allow_nan=False), anything)
cue = st.one_of(
    texts,
    st.fixed_dictionaries({"say": texts}, optional={"gap": duration_values, "at": duration_values}),
    st.fixed_dictionaries({"pause": duration_values}),
    st.fixed_dictionaries({"at": duration_values}),
    anything,
)
patterns = st.one_of(
    st.sampled_from(["4-6", "4-7-8", "box", "coherent", "relax", "5.5-5.5", "1-1", "0.5-0.5", "4-4-4-4"]),
    st.lists(st.floats(0, 30, allow_nan=False).map(lambda f: round(f, 2)), min_size=2, max_size=4).map(
        lambda xs: "-".join(str(x) for x in xs)),
    st.fixed_dictionaries({"inhale": st.integers(0, 10), "exhale": st.integers(0, 10)},
                          optional={"hold": st.integers(0, 10), "hold_out": st.integers(0, 10)}),
    anything,
)
breathe = st.fixed_dictionaries(
    {"pattern": patterns},
    optional={"cycles": st.integers(-1, 50) | st.integers(0, 10**9) | anything,
              "for": duration_values, "guide": st.sampled_from(["words", "count", "tone", "silent", "x"]),
              "voice_cycles": st.integers(-1, 5) | anything,
              "ramp": st.fixed_dictionaries({}, optional={"to": patterns, "over": st.integers(-1, 10) | anything})},
)
level = st.sampled_from(["-30dB", "-12", "0", "+3dB", "loud"]) | st.floats().map(str)
layer = st.one_of(
    st.fixed_dictionaries({}, optional={"note": st.sampled_from(["A2", "C4", "H9", "", "a#3"]), "freq": anything,
                                        "level": level}).map(lambda d: {"drone": d}),
    st.fixed_dictionaries({}, optional={"carrier": st.integers(-5, 30000), "beat": st.floats(-1, 50),
                                        "level": level}).map(lambda d: {"binaural": d}),
    st.fixed_dictionaries({}, optional={"freq": st.integers(-5, 30000), "rate": st.floats(-1, 100),
                                        "level": level}).map(lambda d: {"isochronic": d}),
    st.fixed_dictionaries({}, optional={"color": st.sampled_from(["pink", "white", "brown", "blue"]),
                                        "level": level}).map(lambda d: {"noise": d}),
    st.fixed_dictionaries({"file": st.sampled_from(["nope.ogg", ".", "/dev/zero", "", "a\0b", "x" * 300])},
                          optional={"loop": anything}).map(lambda d: {"music": d}),
    st.fixed_dictionaries({}, optional={"at": st.just("steps") | st.lists(st.sampled_from(["a", "b", "s-1"]),
                                                                                 max_size=3) | anything,
                                        "level": level}).map(lambda d: {"bells": d}),
    st.fixed_dictionaries({}, optional={"fade_in": duration_values, "fade_out": duration_values,
                                        "duck": level}),
    st.just("off"),
    anything,
)


@st.composite
def steps(draw: st.DrawFn) -> Any:
    step: dict[str, Any] = {}
    step.update(draw(_maybe("title", texts | anything)))
    step.update(draw(_maybe("id", st.sampled_from(["a", "b", "s-1", "bad id!", ""]) | anything)))
    step.update(draw(_maybe("duration", duration_values)))
    step.update(draw(_maybe("cues", st.lists(cue, max_size=5) | anything)))
    step.update(draw(_maybe("breathe", breathe | anything)))
    step.update(draw(_maybe("background", layer)))
    step.update(draw(st.dictionaries(st.sampled_from(KEYS), anything, max_size=1)))
    return step if draw(st.integers(0, 20)) else draw(anything)


@st.composite
def scripts(draw: st.DrawFn) -> Any:
    script: dict[str, Any] = {}
    script.update(draw(_maybe("title", texts | anything)))
    for key in ("author", "album", "voice", "language", "version", "cover"):
        script.update(draw(_maybe(key, st.sampled_from(["calm", "default", "en", "es", "1", "zz", "a\0b"])
                                  | anything)))
    for key in ("gap", "lead_in", "tail"):
        script.update(draw(_maybe(key, duration_values)))
    script.update(draw(_maybe("background", layer)))
    script.update(draw(_maybe("steps", st.lists(steps(), max_size=5) | anything)))
    script.update(draw(st.dictionaries(st.sampled_from(KEYS), anything, max_size=1)))
    return script if draw(st.integers(0, 30)) else draw(anything)


@fuzz_settings("structured")
@given(script=scripts(), flow=st.booleans())
def test_structured_random_scripts_fail_cleanly(script: Any, flow: bool) -> None:
    run(yaml.safe_dump(script, allow_unicode=True, default_flow_style=flow, sort_keys=False).encode("utf-8"))


# --- raw text: the parser alone, and libyaml against PyYAML ---------------------------------

raw_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="[]{}:,-?!&*|>'\"#%@` \n\ta0.", max_size=200),
    st.lists(st.sampled_from([*WEIRD, "title: T", "steps:", "  - title: S", "    cues: [a]", "\n", "  "]),
             max_size=12).map("\n".join),
)


NODE_EVENTS = (yaml.ScalarEvent, yaml.CollectionStartEvent, yaml.AliasEvent)


def _events(text: str, loader: type) -> list[tuple[Any, ...]]:
    """Every event, with its position where it matters: node events (their marks become the
    nodes' line:col); libyaml and PyYAML place the implicit document end differently."""
    return [(type(e).__name__, getattr(e, "value", None), getattr(e, "tag", None), getattr(e, "anchor", None),
             getattr(e, "implicit", None), *((e.start_mark.line, e.start_mark.column) if isinstance(e, NODE_EVENTS)
                                             else ()))
            for e in yaml.parse(text, Loader=loader)]


@fuzz_settings("raw")
@given(text=raw_text)
@example(text=">#")  # libyaml reads it, PyYAML refuses it: found by the fuzzer
def test_raw_text_parses_cleanly_and_libyaml_agrees(text: str) -> None:
    ctx = Ctx("fuzz.yaml")
    load_yaml(text, ctx)  # problems are collected, nothing raised
    assert all(p.line >= 1 and p.col >= 1 and "\n" not in p.message for p in ctx.problems)
    if getattr(yaml, "CSafeLoader", None) is None or "\t" in text:
        return  # the loader reads text with tabs with PyYAML only
    try:
        fast = _events(text, yaml.CSafeLoader)
    except (yaml.YAMLError, UnicodeError):
        return  # the loader then falls back to PyYAML, whose reading (and message) is the one used
    if any(event[0] == "ScalarEvent" and not event[1] and event[4][0] for event in fast):
        return  # an empty plain value: the loader reads it with PyYAML (libyaml places it elsewhere)
    if any(event[2] is not None for event in fast):
        return  # a tag: refused whichever parser read it (they disagree on `!`'s implicit flags)
    try:
        slow = _events(text, yaml.SafeLoader)
    except yaml.YAMLError:
        return  # libyaml is more lenient here (e.g. `>#`): its reading was used, cleanly
    assert slow == fast
    run(text.encode("utf-8", "surrogatepass"))

