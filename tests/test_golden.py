"""Golden files for the compiler and the loader (markdown-it-py style fixtures).

``golden/scripts/NAME.yaml`` compiles, with the fake engine's spoken lengths, to exactly
``golden/timelines/NAME.json``.  ``UPDATE_GOLDEN=1 pytest tests/test_golden.py`` rewrites
the JSON; read every rewritten file before committing it.

``golden/broken/NAME.yaml`` fails with exactly the lines of ``golden/broken/NAME.err``.
Convention: the CLI runs with cwd = a tmp folder holding a copy of the fixture and fake
voice profiles, and is passed the bare file name, so each line reads ``NAME.yaml:L:C: ...``.

Hand check of ``say_gap.yaml`` against SPEC section 2 (fake length = 200 + 60 * chars ms):
    gap 2s, lead_in 0.5s, tail 4s
    step settle starts at lead_in = 500
      "Take your time." (15 ch, 1100 ms)  500 -> 1600, gap 3s   -> cursor 4600
      "Breathe." (8 ch, 680 ms)          4600 -> 5280, gap 2s   -> cursor 7280
      pause 10s                                                 -> cursor 17280
      "Let go." (7 ch, 620 ms)          17280 -> 17900, gap 0   -> cursor 17900
      no duration: settle ends at the cursor, 17900
    step rest starts at 17900
      pause 2.5s                                                -> cursor 20400
      "Stay here." (10 ch, 800 ms)      20400 -> 21200, gap 2s  -> cursor 23200
      rest ends at 23200
    session duration = 23200 + tail 4000 = 27200 ms = 27.2 s
which is what say_gap.json holds (seconds: 0.5, 1.6, 4.6, 5.28, 17.28, 17.9, 20.4, 21.2, 23.2, 27.2).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from legsup_audio.cli import app
from legsup_audio.compile.compiler import compile_script
from legsup_audio.errors import ScriptError
from legsup_audio.script.parse import parse_script
from legsup_audio.speech.fake import fake_length_ms
from legsup_audio.compile.timeline import Timeline

GOLDEN = Path(__file__).parent / "golden"
SCRIPTS = sorted((GOLDEN / "scripts").glob("*.yaml"))
BROKEN = sorted((GOLDEN / "broken").glob("*.yaml"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def compiled(path: Path) -> Timeline:
    return compile_script(parse_script(path, display=path.name), fake_length_ms)


def expected_lines(fixture: Path) -> list[str]:
    return fixture.with_suffix(".err").read_text(encoding="utf-8").splitlines()


def test_fixture_folders_are_complete() -> None:
    assert 5 <= len(SCRIPTS) <= 7
    for script in SCRIPTS:
        assert (GOLDEN / "timelines" / f"{script.stem}.json").is_file() or UPDATE, script.name
    assert len(BROKEN) >= 13
    for script in BROKEN:
        assert script.with_suffix(".err").is_file(), script.name


# --- golden timelines ----------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_golden_timeline(script: Path) -> None:
    got = compiled(script).as_dict()
    target = GOLDEN / "timelines" / f"{script.stem}.json"
    if UPDATE:
        target.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(target.read_text(encoding="utf-8"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_golden_timeline_round_trips(script: Path) -> None:
    timeline = compiled(script)
    assert Timeline.from_dict(json.loads(timeline.to_json())) == timeline


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_cli_timeline_json_matches_golden(script: Path, fake_workdir: Path, runner: CliRunner) -> None:
    """The CLI's fake engine (clips synthesised, trimmed and cached) gives the same timeline."""
    shutil.copy(script, fake_workdir / script.name)
    result = runner.invoke(app, ["timeline", script.name, "--json"])
    assert result.exit_code == 0, result.output
    expected = json.loads((GOLDEN / "timelines" / f"{script.stem}.json").read_text(encoding="utf-8"))
    assert json.loads(result.stdout) == expected


# --- broken scripts --------------------------------------------------------------------------


@pytest.mark.parametrize("script", BROKEN, ids=lambda p: p.stem)
def test_broken_library_problems(script: Path, fake_workdir: Path) -> None:
    """The loader + compiler report exactly the expected problems (parse errors, then `at` errors)."""
    shutil.copy(script, fake_workdir / script.name)
    with pytest.raises(ScriptError) as info:
        parsed = parse_script(Path(script.name), known_voices=["calm", "default"])
        compile_script(parsed, fake_length_ms)
    assert info.value.lines() == expected_lines(script)


def _no_traceback(result: object) -> None:
    output = result.output  # type: ignore[attr-defined]
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["validate", "timeline"])
@pytest.mark.parametrize("script", BROKEN, ids=lambda p: p.stem)
def test_broken_cli(script: Path, command: str, fake_workdir: Path, runner: CliRunner) -> None:
    shutil.copy(script, fake_workdir / script.name)
    result = runner.invoke(app, [command, script.name])
    _no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == expected_lines(script)
    assert result.stdout == ""


@pytest.mark.parametrize("script", BROKEN, ids=lambda p: p.stem)
def test_broken_export_writes_nothing(script: Path, fake_workdir: Path, runner: CliRunner, tmp_path: Path) -> None:
    shutil.copy(script, fake_workdir / script.name)
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(app, ["export", script.name, "-o", str(out / "new.mp3")])
    _no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == expected_lines(script)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("script", BROKEN, ids=lambda p: p.stem)
def test_broken_export_keeps_existing_file(
    script: Path, fake_workdir: Path, runner: CliRunner, tmp_path: Path
) -> None:
    shutil.copy(script, fake_workdir / script.name)
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "session.mp3"
    before = b"ID3 an earlier export \x00\xff" * 100
    existing.write_bytes(before)
    result = runner.invoke(app, ["export", script.name, "-o", str(existing)])
    _no_traceback(result)
    assert result.exit_code == 2
    assert existing.read_bytes() == before
    assert list(out.iterdir()) == [existing]


def test_validate_reports_every_broken_file_in_one_run(fake_workdir: Path, runner: CliRunner) -> None:
    """Several scripts in one `validate`: every problem of every file, and still exit 2."""
    names = []
    expected: list[str] = []
    for script in BROKEN[:3]:
        shutil.copy(script, fake_workdir / script.name)
        names.append(script.name)
        expected.extend(expected_lines(script))
    result = runner.invoke(app, ["validate", *names])
    _no_traceback(result)
    assert result.exit_code == 2
    assert sorted(result.stderr.splitlines()) == sorted(expected)


def test_validate_accepts_every_golden_script(fake_workdir: Path, runner: CliRunner) -> None:
    for script in SCRIPTS:
        shutil.copy(script, fake_workdir / script.name)
    result = runner.invoke(app, ["validate", *(s.name for s in SCRIPTS)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == len(SCRIPTS)
