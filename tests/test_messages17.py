"""Messages from issue #17 that misled: each says what is wrong and what to do.

``--bitrate 999x`` is a usage error (exit 2) before any work, not ffmpeg's words;
``play --from 20`` says how many steps there are; a near-miss name (``voices try clam``)
gets a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from legsup_audio.cli import app
from legsup_audio.cli.commands import _step_index
from legsup_audio.errors import UsageError
from legsup_audio.output.export import check_bitrate
from legsup_audio.pipeline import build
from legsup_audio.script.suggest import suggest

SCRIPT = "title: T\nsteps:\n  - title: One\n    cues: [Hello.]\n  - title: Two\n    cues: [Bye.]\n"


@pytest.mark.parametrize("value", ["999x", "0k", "1000k", "k", "", "64 k b", "-64k"])
def test_a_bad_bitrate_is_a_usage_error_before_any_work(value: str, fake_workdir: Path, runner: CliRunner) -> None:
    (fake_workdir / "s.yaml").write_text(SCRIPT, encoding="utf-8")
    result = runner.invoke(app, ["export", "s.yaml", "--bitrate", value])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"--bitrate '{value}' is not a bitrate from 8k to 320k: write it "
                                                  f"like 64k or 96k"]
    assert not (fake_workdir / "output").exists()


@pytest.mark.parametrize(("value", "expected"), [("96k", "96k"), ("96", "96k"), ("128000", "128k"), ("64K", "64k"),
                                                 ("96kbps", "96k"), (None, None)])
def test_good_bitrates_pass(value: str | None, expected: str | None) -> None:
    assert check_bitrate(value, "mp3") == expected


def test_bitrate_with_wav_is_refused() -> None:
    with pytest.raises(UsageError, match="wav"):
        check_bitrate("96k", "wav")


def test_from_a_step_number_past_the_end_says_how_many(fake_workdir: Path) -> None:
    (fake_workdir / "s.yaml").write_text(SCRIPT, encoding="utf-8")
    timeline = build(fake_workdir / "s.yaml").timeline
    with pytest.raises(UsageError) as info:
        _step_index([step.id for step in timeline.steps], "20")
    assert str(info.value) == "no step 20: this session has 2 steps (one, two); give a number from 1 to 2 or a step id"
    assert _step_index([step.id for step in timeline.steps], "2") == 1


def test_voices_try_suggests_a_near_miss(fake_workdir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["voices", "try", "clam"])
    assert result.exit_code == 2
    assert "(did you mean 'calm'?)" in result.stderr


@pytest.mark.parametrize(("word", "names", "expected"), [
    ("clam", ["brisk", "classic", "default", "es"], "classic"), ("clam", ["calm", "default"], "calm"),
    ("tittle", ["title", "steps"], "title"), ("defualt", ["default", "calm"], "default"), ("zzz", ["title"], None),
])
def test_suggest_finds_typos_and_transpositions(word: str, names: list[str], expected: str | None) -> None:
    assert suggest(word, names) == (f" (did you mean '{expected}'?)" if expected else "")


def test_a_colon_in_a_cue_says_to_quote_it_and_a_typo_is_one_error(fake_workdir: Path, runner: CliRunner) -> None:
    (fake_workdir / "m.yaml").write_text(
        "title: T\nsteps:\n  - tittle: One\n    cues:\n      - Remember: there is no hurry.\n      - Hello.\n",
        encoding="utf-8")
    result = runner.invoke(app, ["validate", "m.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "m.yaml:3:5: unknown key 'tittle' in step 1 (did you mean 'title'?)",
        "m.yaml:5:9: this cue holds ': ', so YAML reads it as a key 'Remember', not text to say; to say it, put "
        "the whole line in quotes: - \"Remember: there is no hurry.\"",
    ]
