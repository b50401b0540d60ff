"""YAML mistakes in plain words (#17): what a teacher who mis-indents a line reads.

Each common mistake (a tab, a list item or key out of line, a missing space after a
colon, a colon inside a value, an unclosed quote or bracket, text that starts with a
character YAML reserves) gives one ``FILE:LINE:COL: message`` pointing where the fix
goes, with the fix in words; none of PyYAML's own terms ("mapping values", "block
end", "scalar", "token") reaches the user.  A sweep over every line of the built-in
scripts, each shifted, tabbed or stripped of a colon or space, checks the same for the
mistakes nobody listed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from legsup_audio.cli import app
from legsup_audio.script.reading import Ctx, load_yaml

REPO = Path(__file__).resolve().parent.parent
JARGON = re.compile(r"mapping values|block end|<|scalar|token|simple key|flow (sequence|mapping|node)|"
                    r"while (parsing|scanning)|YAML syntax error|cannot read the script here")

HEAD = "title: T\nsteps:\n  - title: A\n"


def problems(text: str) -> list[str]:
    ctx = Ctx("x.yaml")
    load_yaml(text, ctx)
    return [str(p) for p in ctx.problems]


CASES = [
    # (what, text, position, words that must be in the message)
    ("tab indent", HEAD + "    cues:\n\t- a\n", "5:1", ["indented with a tab", "spaces"]),
    ("tab after a dash", HEAD + "    cues:\n      -\ta\n", "5:8", ["tab", "space"]),
    ("list item too far left", HEAD + "    cues:\n      - a\n     - b\n", "6:6",
     ["not lined up", "column 7 (line 5)"]),
    ("step item out of line", HEAD + "    cues: [a]\n - title: B\n   cues: [b]\n", "5:2",
     ["not lined up", "column 3 (line 3)"]),
    ("list item too far right: one text to YAML", HEAD + "    cues:\n      - a\n        - b\n", "6:9",
     ["more of the text begun on line 5", "'a - b'", "column 7 (line 5)"]),
    ("list under a key with a value", HEAD + "    cues: [a]\n      - b\n", "5:7",
     ["cannot go under 'cues'", "alone on its line"]),
    ("key too far left", HEAD + "   cues: [a]\n", "4:4", ["'cues' (column 4)", "column 5 ('title', line 3)"]),
    ("key too far right", HEAD + "      cues: [a]\n", "4:7", ["'cues' is indented further than line 3"]),
    ("cue key out of line", HEAD + "    cues:\n      - say: a\n       gap: 2s\n", "6:8",
     ["'gap' (column 8)", "column 9 ('say', line 5)"]),
    ("no space after a colon", HEAD + "    duration:5m\n    cues: [a]\n", "4:14",
     ["'duration:5m' needs a space after the colon", "'duration: 5m'"]),
    ("no space after the first colon", "title:T\nsteps:\n  - title: A\n    cues: [a]\n", "1:7",
     ["'title: T'"]),
    ("no space after a dash", HEAD + "    cues:\n      -a\n      - b\n", "5:8", ["space after its '-'", "'- a'"]),
    ("colon inside a value", "title: T\nsteps:\n  - title: Legs: up\n    cues: [a]\n", "3:16",
     ["value of 'title' holds ': '", 'title: "Legs: up"']),
    ("no colon after a key", "title: T\nsteps\n  - title: A\n    cues: [a]\n", "2:6", ["write 'steps:'"]),
    ("unclosed double quote", HEAD + "    cues:\n      - \"Hello\n      - b\n", "5:9", ['quote (") is never closed']),
    ("unclosed single quote", HEAD + "    cues:\n      - 'Hello\n", "5:9", ["quote (') is never closed"]),
    ("apostrophe in single quotes", HEAD + "    cues:\n      - 'Let's rest'\n", "5:13", ["write it twice"]),
    ("text after the closing quote", HEAD + "    cues:\n      - \"Breathe\" in\n", "5:19",
     ["goes on after its closing quote"]),
    ("unclosed bracket", HEAD + "    cues: [a, b\n  - title: B\n    cues: [c]\n", "4:11",
     ["'[' is never closed", "']'"]),
    ("unclosed brace", HEAD + "    breathe: {pattern: 4-6, cycles: 3\n    cues: [a]\n", "4:14", ["'{' is never closed"]),
    ("wrong closing bracket", HEAD + "    cues: [a, b}\n", "4:16", ["closed with '}'", "close it with ']'"]),
    ("stray closing bracket", HEAD + "    cues: [a, b]]\n", "4:17", ["']' has nothing to close"]),
    ("text starting with @", HEAD + "    cues:\n      - @home\n", "5:9", ["starts with '@' must be in quotes", '"@home"']),
    ("text starting with *", HEAD + "    cues:\n      - *Relax* now\n", "5:9", ["starts with '*'", '"*Relax* now"']),
    ("text starting with |", HEAD + "    cues:\n      - | Relax\n", "5:9", ["starts with '|'"]),
    ("text starting with !", HEAD + "    cues:\n      - !Relax now\n", "5:9", ['in quotes: "!Relax now"']),
    ("a backslash in double quotes", HEAD + "    cues:\n      - \"C:\\path\"\n", "5:13", ["write \\\\"]),
    ("a list item on its key's line", "title: T\nsteps: - title: A\n", "2:8", ["same line as its key"]),
    ("two documents", "title: T\nsteps: [{title: S, cues: [a]}]\n---\ntitle: U\n", "3:1", ["single document"]),
    ("double comma", HEAD + "    cues: [a,,b]\n", "4:14", ["two commas"]),
]


@pytest.mark.parametrize(("what", "text", "where", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_common_mistake_is_told_in_plain_words(what: str, text: str, where: str, words: list[str]) -> None:
    [line] = problems(text)
    assert line.startswith(f"x.yaml:{where}: "), line
    for word in words:
        assert word in line, f"{what}: {word!r} not in {line!r}"
    assert not JARGON.search(line), line


def test_a_hash_that_empties_a_cue_says_it_starts_a_comment(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(HEAD + "    cues:\n      - #5 breaths\n      - say: # rest\n")
    result = CliRunner().invoke(app, ["validate", str(script)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert [line.split(": ", 1)[0].rsplit(":", 2)[1:] for line in lines] == [["5", "8"], ["6", "13"]]
    assert all("'#' starts a comment" in line for line in lines)


def test_the_cli_prints_one_plain_line_and_exits_2(tmp_path: Path) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text(HEAD + "    cues:\n      - a\n     - b\n")
    result = CliRunner().invoke(app, ["validate", str(script)])
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{script}:6:6: this list item is not lined up")


def _mutants(text: str):  # type: ignore[no-untyped-def]
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for changed in (" " + line, "  " + line, line[1:] if line.startswith(" ") else None,
                        line[2:] if line.startswith("  ") else None,
                        "\t" + line.lstrip(" ") if line.startswith(" ") else None,
                        line.replace(":", "", 1) if ":" in line else None,
                        line.replace(": ", ":", 1) if ": " in line else None,
                        line.replace(": ", ': "', 1) if ": " in line else None,
                        line.replace(": ", ": [", 1) if ": " in line else None,
                        line.replace("- ", "-", 1) if "- " in line else None):
            if changed is not None:
                yield "\n".join([*lines[:i], changed, *lines[i + 1:]])


@pytest.mark.parametrize("name", ["legs-up-the-wall", "breathing-only"])
def test_no_yaml_jargon_for_any_line_shifted_tabbed_or_stripped(name: str) -> None:
    text = (REPO / "scripts" / f"{name}.yaml").read_text(encoding="utf-8")
    count = 0
    for mutant in _mutants(text):
        ctx = Ctx("x.yaml")
        load_yaml(mutant, ctx)
        total = mutant.count("\n") + 1
        for problem in ctx.problems:
            count += 1
            assert not JARGON.search(problem.message), (str(problem), mutant.split("\n")[problem.line - 2:problem.line])
            assert 1 <= problem.line <= total and problem.col >= 1
    assert count > 300, "the sweep found the mistakes it makes"
