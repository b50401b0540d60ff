"""What the terminal shows, at the widths terminals have: `legsup scripts` and every `--help`.

The names listed by `legsup scripts` are what you type, so they are never cut with an
ellipsis, at 80 columns or 40 (the table drops columns, then becomes a plain list).
Every command's `--help` shows a metavar a person reads (FILE, SECONDS, NAME) for an
option that takes a value, nothing for a flag, and never a Python type name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

LONG_NAME = "my-very-long-evening-session-by-the-wall"
COMMANDS = [[], ["export"], ["play"], ["timeline"], ["validate"], ["scripts"], ["voices"], ["voices", "try"],
            ["recordings"], ["new"], ["schema"], ["serve"]]


def legsup(*args: str, columns: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("columns", [120, 80, 40, 24])
def test_script_names_are_never_cut(tmp_path: Path, columns: int) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / f"{LONG_NAME}.yaml").write_text(
        "title: An evening by the wall with a title long enough to wrap\nsteps:\n  - title: A\n    cues: [Hello.]\n")
    run = legsup("scripts", columns=columns, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    names = [LONG_NAME, "legs-up-the-wall-short", "legs-up-the-wall-chair", "piernas-en-la-pared"]
    for name in names:
        assert re.search(rf"(^|[│ ]){re.escape(name)}([│ ]|$)", run.stdout, re.M), (name, run.stdout)
    assert "…" not in run.stdout.split("title")[0]
    name_cells = [line for line in run.stdout.splitlines() if "legs-up" in line or LONG_NAME in line]
    assert all("…" not in line.split("│")[1 if "│" in line else 0] for line in name_cells), run.stdout
    if columns >= 40:
        assert max(len(line) for line in run.stdout.splitlines()) <= columns


TYPE_NAMES = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|[A-Za-z_.]+)>")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "legsup")
def test_every_help_shows_metavars_not_type_names(tmp_path: Path, command: list[str]) -> None:
    run = legsup(*command, "--help", columns=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert not TYPE_NAMES.search(text), TYPE_NAMES.search(text)
    for line in text.splitlines():  # a flag shows no metavar: its row goes straight on to its help
        match = re.match(r"│\s+(--[\w-]+)(?:\s+-\w)?\s+([A-Z][A-Z_]*)?\s", line)
        if match and match.group(1) in ("--help", "--force", "--json", "--page", "--no-background", "--version"):
            assert match.group(2) is None, line
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "[scripts]" not in usage and "[script]" not in usage, usage


def test_options_that_take_values_name_them() -> None:
    run = legsup("export", "--help", columns=160, cwd=Path.cwd())
    for option, metavar in (("--format", "FORMAT"), ("--bitrate", "RATE"), ("--to", "DIR"),
                            ("--max-length", "LENGTH"), ("--voice", "PROFILE"), ("--playlist", "NAME")):
        assert re.search(rf"{option}\s+(-\w\s+)?{metavar}\b", run.stdout), (option, run.stdout)
    assert re.search(r"\[SCRIPT\]\.\.\.", run.stdout)
