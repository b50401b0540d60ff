"""Hypothesis: mangled cue scripts fail only with the clean ``ScriptError``; valid ones compile stably.

Each example takes a valid script (the golden ones and the ready-made variants) and
applies a few random edits to its text: a key renamed (a typo or another key), a
value swapped for one of the wrong type, a line deleted.  Parsing and compiling
(with the fake engine's lengths) must either succeed or raise ``ScriptError`` with
``FILE:LINE:COL`` problems, never anything else; what succeeds must compile to the
same timeline twice, and its JSON must read back to the same data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legsup_audio.compile.compiler import compile_script
from legsup_audio.errors import ScriptError
from legsup_audio.script.parse import parse_script
from legsup_audio.speech.fake import fake_length_ms
from legsup_audio.compile.timeline import Timeline

REPO = Path(__file__).resolve().parents[1]
BASES = [p.read_text(encoding="utf-8") for p in sorted((REPO / "tests/golden/scripts").glob("*.yaml"))] + [
    (REPO / "scripts" / f"{name}.yaml").read_text(encoding="utf-8")
    for name in ("legs-up-the-wall-short", "legs-up-the-wall-chair", "breathing-only")
    if (REPO / "scripts" / f"{name}.yaml").exists()
]
KEYS = ["title", "tittle", "id", "duration", "duraton", "cues", "say", "sya", "gap", "at", "pause", "voice",
        "language", "breathe", "pattern", "cycles", "for", "guide", "background", "steps", "lead_in", "tail", "x"]
WRONG = ["[1, 2]", "{a: 1}", "-5", "-2s", '""', "yes", "~", "2x", "1:99", "0", "99h", "[]", "{}", "box", "'  '"]
KEY_LINE = re.compile(r"^(\s*(?:- )?)([A-Za-z_]+)(:.*)$")
VALUE_LINE = re.compile(r"^(\s*(?:- )?[A-Za-z_]+: )(.+)$")


def mutate(text: str, edits: list[tuple[str, int, int]]) -> str:
    lines = text.splitlines()
    for kind, where, pick in edits:
        if not lines:
            break
        i = where % len(lines)
        if kind == "rename" and (m := KEY_LINE.match(lines[i])):
            lines[i] = m.group(1) + KEYS[pick % len(KEYS)] + m.group(3)
        elif kind == "retype" and (m := VALUE_LINE.match(lines[i])):
            lines[i] = m.group(1) + WRONG[pick % len(WRONG)]
        elif kind == "delete":
            del lines[i]
    return "\n".join(lines) + "\n"


edits = st.lists(st.tuples(st.sampled_from(["rename", "retype", "delete"]), st.integers(0, 10_000),
                           st.integers(0, 1000)), min_size=1, max_size=4)


def compiled(text: str):  # noqa: ANN201
    script = parse_script(Path("mutant.yaml"), text=text, known_voices=["default", "calm"], display="mutant.yaml")
    return compile_script(script, fake_length_ms)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), changes=edits)
def test_mutants_fail_cleanly_or_compile_stably(base: str, changes: list[tuple[str, int, int]]) -> None:
    text = mutate(base, changes)
    try:
        first = compiled(text)
    except ScriptError as exc:
        assert exc.problems, "a ScriptError always carries at least one problem"
        for problem in exc.problems:
            assert re.match(r"^mutant\.yaml:\d+:\d+: \S", str(problem)), str(problem)
            assert 1 <= problem.line <= text.count("\n") + 2
        return
    second = compiled(text)
    assert first == second
    data = json.loads(first.to_json())
    assert json.loads(second.to_json()) == data
    assert Timeline.from_dict(data).to_json() == first.to_json()  # the JSON form reads back unchanged
    assert data["duration"] >= max((e["end"] for e in data["events"]), default=0)


def test_bases_are_valid() -> None:
    assert len(BASES) >= 6
    for base in BASES:
        compiled(base)
