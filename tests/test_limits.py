"""Limits and hostile input: each fails as a clean script error, ``FILE:LINE:COL: message``.

The limits live in ``legsup_audio.script.limits``; these tests pin each one's message and
position, that the CLI exits 2 with no traceback and writes nothing, and that a
script is data: no tag can run code, no anchor can multiply itself, no path in it
can escape where output goes or make reading hang.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from legsup_audio.script import limits
from legsup_audio.cli import app
from legsup_audio.compile.compiler import compile_script
from legsup_audio.errors import ScriptError
from legsup_audio.script.parse import parse_script
from legsup_audio.speech.fake import fake_length_ms


def problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ScriptError) as info:
        compile_script(parse_script("x.yaml", text=text, **kwargs), fake_length_ms)  # type: ignore[arg-type]
    return info.value.lines()


def file_problems(path: Path, display: str = "x.yaml") -> list[str]:
    with pytest.raises(ScriptError) as info:
        compile_script(parse_script(path, display=display), fake_length_ms)
    return info.value.lines()


def clean_exit_2(result: object) -> list[str]:
    """The CLI's stderr lines, after checking it failed as a script error should."""
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert result.exception is None or isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    return result.stderr.splitlines()  # type: ignore[attr-defined]


# --- session length ----------------------------------------------------------------------------

LONG = """\
title: Long
steps:
  - title: Settle
    cues: [Hello, {pause: 3h}]
  - title: Rest
    id: rest
    duration: 2h
    cues: [Stay here]
"""
LONG_LINE = ("long.yaml:6:9: the session would last at least 5h 5.5s, over the limit of 4h (it passes the limit "
             "in step 'rest'); shorten it, or raise the limit with --max-length 6h")


def test_a_session_over_four_hours_points_at_the_step_that_passes_the_limit() -> None:
    with pytest.raises(ScriptError) as info:
        compile_script(parse_script("long.yaml", text=LONG), fake_length_ms)
    assert info.value.lines() == [LONG_LINE]


def test_max_length_raises_the_limit_on_validate_and_timeline(fake_workdir: Path, runner: CliRunner) -> None:
    (fake_workdir / "long.yaml").write_text(LONG, encoding="utf-8")
    assert clean_exit_2(runner.invoke(app, ["validate", "long.yaml"])) == [LONG_LINE]
    assert clean_exit_2(runner.invoke(app, ["timeline", "long.yaml"])) == [LONG_LINE]
    ok = runner.invoke(app, ["validate", "long.yaml", "--max-length", "6h"])
    assert ok.exit_code == 0, ok.output
    assert "long.yaml: ok (2 steps, 5:00:" in ok.stdout
    assert runner.invoke(app, ["timeline", "long.yaml", "--json", "--max-length", "5h30m"]).exit_code == 0


def test_a_lower_limit_applies_to_play_and_export_before_any_sound(
    fake_workdir: Path, runner: CliRunner, tmp_path: Path
) -> None:
    (fake_workdir / "short.yaml").write_text("title: S\nsteps:\n  - title: A\n    cues: [Hi, {pause: 2m}]\n",
                                             encoding="utf-8")
    expected = ["short.yaml:3:5: the session would last at least 2m 5.5s, over the limit of 1m (it passes the "
                "limit in step 'a'); shorten it, or raise the limit with --max-length 1h"]
    assert clean_exit_2(runner.invoke(app, ["play", "short.yaml", "--max-length", "1m"])) == expected
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "short.mp3"
    existing.write_bytes(b"an earlier export")
    result = runner.invoke(app, ["export", "short.yaml", "-o", str(existing), "--max-length", "60s"])
    assert clean_exit_2(result) == expected
    assert existing.read_bytes() == b"an earlier export" and list(out.iterdir()) == [existing]


def test_speech_can_push_a_session_over_the_limit() -> None:
    # Silences alone: 1s lead-in + 3h59m50s + 1.5s gap + 3s tail = 4h -4.5s, under the limit;
    # the fake voice needs 200 + 60 * 300 ms = 18.2s for the cue, which takes it over.
    text = f"title: T\nsteps:\n  - title: A\n    cues: [{{pause: 3h59m50s}}, {'w' * 300}]\n"
    assert problems(text) == ["x.yaml:3:5: the session lasts 4h 13.7s, over the limit of 4h (it passes the limit "
                              "in step 'a'); shorten it, or raise the limit with --max-length 5h"]


def test_a_long_breathing_block_is_refused_before_it_is_laid_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import legsup_audio.script.cadence as cadence

    def boom(*args: object) -> None:
        raise AssertionError("phases were laid out for a session that is too long")

    monkeypatch.setattr(cadence, "phases", boom)
    text = "title: T\nsteps:\n  - title: A\n    breathe: {pattern: 4-6, cycles: 2000}\n"
    assert problems(text) == ["x.yaml:3:5: the session would last at least 5h 33m 24s, over the limit of 4h (it "
                              "passes the limit in step 'a'); shorten it, or raise the limit with --max-length 6h"]


def test_a_huge_pause_fails_before_anything_is_spoken(fake_workdir: Path, runner: CliRunner) -> None:
    (fake_workdir / "typo.yaml").write_text("title: T\nsteps:\n  - title: A\n    cues: [Hello, {pause: 90000h}]\n",
                                            encoding="utf-8")
    lines = clean_exit_2(runner.invoke(app, ["validate", "typo.yaml"]))
    assert lines == ["typo.yaml:3:5: the session would last at least 90000h 5.5s, over the limit of 4h (it passes "
                     "the limit in step 'a'); shorten it, or raise the limit with --max-length, or check for a "
                     "duration far too long"]
    cache = Path(os.environ["LEGSUP_CACHE_DIR"])
    assert not cache.exists() or not any(cache.rglob("*.wav"))  # nothing was synthesised


@pytest.mark.parametrize("value", ["abc", "0", "-1h", "1e400", "9" * 50])
def test_a_bad_max_length_is_a_one_line_usage_error(value: str, fake_workdir: Path, runner: CliRunner) -> None:
    lines = clean_exit_2(runner.invoke(app, ["timeline", "legs-up-the-wall", "--max-length", value]))
    assert len(lines) == 1
    assert lines[0].startswith(f"--max-length '{value}' is not a length above 0: ")


# --- cue count, text length, file size --------------------------------------------------------


def _many_cues(n: int) -> str:
    return "title: T\nsteps:\n  - title: A\n    cues:\n" + "      - {pause: 0s}\n" * n


def test_more_than_the_cue_limit_is_refused_at_the_first_cue_over_it() -> None:
    assert limits.MAX_CUES == 5000
    parse_script("x.yaml", text=_many_cues(limits.MAX_CUES))  # exactly at the limit: fine
    with pytest.raises(ScriptError) as info:
        parse_script("x.yaml", text=_many_cues(limits.MAX_CUES + 3))
    assert info.value.lines() == [
        "x.yaml:5005:9: this is cue 5,001 of the script, over the limit of 5,000 cues; split the session into "
        "several scripts (exported together, they make a playlist)"
    ]


def test_the_cue_limit_counts_across_steps() -> None:
    step = "  - title: S{}\n    cues: [" + ", ".join(["{{pause: 0s}}"] * 1000) + "]\n"
    steps = "".join(step.format(i) for i in range(5))
    with pytest.raises(ScriptError) as info:
        parse_script("x.yaml", text="title: T\nsteps:\n" + steps + "  - title: Last\n    cues: [One more]\n")
    [line] = info.value.lines()
    assert line.startswith("x.yaml:14:12: this is cue 5,001 of the script")


def test_a_cue_over_the_text_limit_is_refused() -> None:
    ok = "w" * limits.MAX_TEXT_CHARS
    parse_script("x.yaml", text=f"title: T\nsteps:\n  - title: A\n    cues: [{ok}]\n")
    text = f"title: T\nsteps:\n  - title: A\n    cues:\n      - {ok}x\n      - say: {'y' * 2500}\n"
    with pytest.raises(ScriptError) as info:
        parse_script("x.yaml", text=text)
    assert info.value.lines() == [
        "x.yaml:5:9: the cue's text is 2,001 characters long, over the limit of 2,000; split it into shorter cues",
        "x.yaml:6:14: 'say' is 2,500 characters long, over the limit of 2,000; split it into shorter cues",
    ]


def test_a_title_over_the_text_limit_is_refused() -> None:
    with pytest.raises(ScriptError) as info:
        parse_script("x.yaml", text=f"title: {'t' * 3000}\nsteps: [{{title: S, cues: [a]}}]\n")
    assert info.value.lines() == ["x.yaml:1:8: title is 3,000 characters long, over the limit of 2,000; shorten it"]


SIZE_LINE = ("big.yaml:1:1: the file is larger than 2 MB, the limit for a cue script (real ones are a few KB): "
             "is it really a cue script?")


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import legsup_audio.script.parse as parse

    def no_parsing(*args: object) -> None:
        raise AssertionError("a file over the size limit was parsed")

    head = b"title: T\nsteps: [{title: S, cues: [a]}]\n"
    path = tmp_path / "big.yaml"
    path.write_bytes(head + b"#" * (limits.MAX_FILE_BYTES - len(head)))  # exactly at the limit: read
    assert parse_script(path).title == "T"
    path.write_bytes(head + b"#" * (limits.MAX_FILE_BYTES - len(head) + 1))
    monkeypatch.setattr(parse, "load_yaml", no_parsing)
    assert file_problems(path, "big.yaml") == [SIZE_LINE]
    with pytest.raises(ScriptError) as info:
        parse_script("big.yaml", text=path.read_text())
    assert info.value.lines() == [SIZE_LINE]


def test_a_large_valid_script_parses_quickly() -> None:
    # 4,800 cues of 110 characters (about 550 KB): libyaml reads the events, so well under a second.
    cue = "      - This is a fairly ordinary cue, spoken slowly and calmly to the listener lying on the floor {}.\n"
    text = "title: T\nsteps:\n" + "".join(
        f"  - title: Step {i}\n    cues:\n" + "".join(cue.format(j) for j in range(24)) for i in range(200))
    started = time.perf_counter()
    script = parse_script("x.yaml", text=text)
    assert len(script.steps) == 200 and sum(len(s.cues) for s in script.steps) == 4800
    assert time.perf_counter() - started < 1.5


# --- hostile YAML -------------------------------------------------------------------------------

DEPTH_LINE = ("x.yaml:2:{col}: lists and mappings are nested more than 20 levels deep here; a cue script needs "
              "only a few (is a bracket unclosed?)")


@pytest.mark.parametrize(("text", "col"), [
    ("title: T\nsteps: " + "[" * 10_000 + "]" * 10_000 + "\n", 27),
    ("title: T\nsteps: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", 84),
    ("title: T\nsteps: " + "[" * 10_000 + "\n", 27),  # unclosed, too
])
def test_deep_nesting_is_a_clean_error_not_a_recursion_error(text: str, col: int) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script("x.yaml", text=text)
    assert info.value.lines() == [DEPTH_LINE.format(col=col)]


def test_deep_block_nesting_is_refused_at_its_line() -> None:
    text = "title: T\nsteps:\n" + "".join("  " * i + "- \n" for i in range(1, 40))
    lines = problems(text)
    assert lines == [DEPTH_LINE.replace("x.yaml:2:", "x.yaml:22:").format(col=41)]


def test_twenty_levels_are_still_read() -> None:
    # The limit refuses nesting, not structure: 20 levels reach the parser's own checks.
    text = "title: T\nsteps: [{title: S, cues: [" + "[" * 16 + "]" * 16 + "]}]\n"
    assert problems(text) == ["x.yaml:2:27: a cue must be a mapping of keys to values, not a list"]


def test_billion_laughs_is_refused_at_the_first_anchor() -> None:
    text = (
        "title: T\n"
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "steps: [{title: S, cues: [*c]}]\n"
    )
    assert problems(text) == ["x.yaml:2:4: YAML anchors and aliases (& and *) are not allowed in cue scripts; "
                              "text that starts with '&' or '*' must be in quotes"]


@pytest.mark.parametrize(("value", "shown", "quoted", "col"), [
    ("!!python/object/apply:os.system ['touch pwned']", "!!python/object/apply:os.system",
     "!!python/object/apply:os.system", 8),  # a list, not text: only the tag is offered in quotes
    ("!!python/name:os.system", "!!python/name:os.system", "!!python/name:os.system", 8),
    ("!!binary aGk=", "!!binary", "!!binary aGk=", 8),
    ("!custom thing", "!custom", "!custom thing", 8),
    ("!!str plain", "!!str", "!!str plain", 8),
])
def test_yaml_tags_are_refused_and_run_nothing(value: str, shown: str, quoted: str, col: int, fake_workdir: Path,
                                               runner: CliRunner) -> None:
    (fake_workdir / "tag.yaml").write_text(f"title: {value}\nsteps: [{{title: S, cues: [a]}}]\n", encoding="utf-8")
    lines = clean_exit_2(runner.invoke(app, ["validate", "tag.yaml"]))
    assert lines == [f"tag.yaml:1:{col}: YAML tags such as '{shown}' are not allowed in cue scripts (a script is "
                     f"plain data): remove the tag, or, if it is text, put it in quotes: \"{quoted}\""]
    assert not (fake_workdir / "pwned").exists()


def test_a_tag_on_the_whole_document_is_refused() -> None:
    assert problems("!!python/object/apply:os.system\nargs: ['true']\n") == [
        "x.yaml:1:1: YAML tags such as '!!python/object/apply:os.system' are not allowed in cue scripts (a script "
        "is plain data): remove the tag, or, if it is text, put it in quotes: \"!!python/object/apply:os.system\""]


# --- files that are not cue scripts -------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.mark.parametrize(("data", "expected"), [
    (PNG, "x.yaml:1:1: the file is not UTF-8 text; save it as UTF-8"),
    (bytes(range(256)) * 4, "x.yaml:2:118: the file is not UTF-8 text; save it as UTF-8"),
    ("title: T\n".encode("utf-16"), "x.yaml:1:1: the file is not UTF-8 text; save it as UTF-8"),
    (b"\x00\x01\x02binary\x7f", "x.yaml:1:1: the control character U+0000 is not allowed in YAML; remove it"),
    (b"", "x.yaml:1:1: the file is empty: a cue script needs at least a title and steps"),
    (b"\n# only a comment\n\n", "x.yaml:1:1: the file is empty: a cue script needs at least a title and steps"),
    (b"- title: T\n- steps: []\n", "x.yaml:1:1: a cue script must be a mapping of keys to values, not a list"),
    (b"just some words\n", "x.yaml:1:1: a cue script must be a mapping of keys to values, not 'just some words'"),
    (b"42\n", "x.yaml:1:1: a cue script must be a mapping of keys to values, not '42'"),
    (b"<html><body>hi</body></html>\n",
     "x.yaml:1:1: a cue script must be a mapping of keys to values, not '<html><body>hi</body></html>'"),
    (b'{"title": "T", "steps": 3}\n',
     "x.yaml:1:25: steps must be a list of steps (each starting with '- title:'), not '3'"),
])
def test_files_that_are_not_cue_scripts(data: bytes, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(data)
    assert file_problems(path) == [expected]


def test_devices_pipes_and_folders_are_not_read(tmp_path: Path, fake_workdir: Path, runner: CliRunner) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it would block until a writer came: it must not be opened at all
    not_regular = "is not a regular file (a device, pipe or socket); give the path of a cue script file"
    assert file_problems(fifo, "pipe.yaml") == [f"pipe.yaml:1:1: {not_regular}"]
    assert file_problems(Path("/dev/zero"), "zero") == [f"zero:1:1: {not_regular}"]
    assert file_problems(tmp_path, "folder") == ["folder:1:1: is a folder, not a cue script"]
    assert clean_exit_2(runner.invoke(app, ["validate", "/dev/zero"])) == [f"/dev/zero:1:1: {not_regular}"]


@pytest.mark.parametrize(("value", "message"), [
    ("1e308", "pause: '1e308' is far too long to be a duration: write it like"),
    ("9" * 5000 + "h", "pause: '99999999999999999999...' is not a duration: write it like"),
    ("'" + "9" * 5000 + ":00'", "pause: '99999999999999999999...' is not a duration: write it like"),
])
def test_absurd_numbers_are_clean_duration_errors(value: str, message: str) -> None:
    [line] = problems(f"title: T\nsteps:\n  - title: A\n    cues: [{{pause: {value}}}]\n")
    assert line.startswith(f"x.yaml:4:20: {message}")
    assert "sys.set_int_max_str_digits" not in line


@pytest.mark.parametrize(("value", "shown"), [("²", "'²'"), ("9" * 5000, "'99999999999999999999999999999999999...'")])
def test_odd_digits_are_clean_cycle_errors(value: str, shown: str) -> None:
    assert problems(f"title: T\nsteps:\n  - title: A\n    breathe: {{pattern: 4-6, cycles: {value}}}\n") == [
        f"x.yaml:4:37: cycles must be a whole number, 1 or more, not {shown}"]


def test_breathing_cycles_over_the_limit_are_refused_where_they_are_set() -> None:
    text = ("title: T\nsteps:\n"
            "  - title: A\n    breathe: {pattern: 4-6, cycles: 10001}\n"
            "  - title: B\n    breathe: {pattern: 0.1-0.1, for: 1h}\n")
    assert problems(text) == [
        "x.yaml:4:37: 'breathe' makes 10,001 cycles, over the limit of 10,000 in one block; use fewer cycles "
        "or a shorter 'for', or slower phases",
        "x.yaml:6:38: 'breathe' makes 18,000 cycles, over the limit of 10,000 in one block; use fewer cycles "
        "or a shorter 'for', or slower phases",
    ]


# --- paths in a script: the music bed and the cover ---------------------------------------------


def _wav(path: Path, seconds: float = 0.5) -> None:
    rate = 8000
    t = np.arange(int(rate * seconds)) / rate
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())


def _music(folder: Path, file: str) -> list[str]:
    script = folder / "bed.yaml"
    script.write_text(f'title: T\nbackground:\n  music: {{file: "{file}"}}\nsteps: [{{title: S, cues: [a]}}]\n',
                      encoding="utf-8")
    try:
        parsed = parse_script(script, display="bed.yaml")
    except ScriptError as exc:
        return exc.lines()
    return [f"ok {dict(parsed.get('background').layer('music').params)['file']}"]


def test_music_that_is_not_a_readable_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.ogg")
    (tmp_path / "folder.ogg").mkdir()
    at = "bed.yaml:3:17: music file"
    assert _music(tmp_path, "folder.ogg") == [f"{at} {tmp_path / 'folder.ogg'} is a folder, not a file; give an "
                                              "audio file"]
    assert _music(tmp_path, "pipe.ogg") == [f"{at} {tmp_path / 'pipe.ogg'} is not a regular file (a device, pipe "
                                            "or socket); give an audio file"]
    assert _music(tmp_path, "/dev/zero") == [f"{at} /dev/zero is not a regular file (a device, pipe or socket); "
                                             "give an audio file"]
    assert _music(tmp_path, "gone.ogg") == [f"bed.yaml:3:17: music file not found: {tmp_path / 'gone.ogg'} (paths "
                                            "are relative to the script's folder)"]
    assert _music(tmp_path, "a\\0b.ogg") == [f"{at} {tmp_path / 'a'}\\x00b.ogg is not a valid file name (it holds a "
                                             "NUL character); give an audio file"]
    [long] = _music(tmp_path, "x" * 300)
    assert long.startswith(f"{at} {tmp_path / ('x' * 300)} cannot be read: File name too long")


def test_a_symlink_to_music_elsewhere_is_followed(tmp_path: Path) -> None:
    # Allowed on purpose: a music library is often a link into another folder or disk.
    # The bed reads what the link names; a link to a device is refused like the device.
    library = tmp_path / "library"
    library.mkdir()
    _wav(library / "rain.wav")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "rain.wav").symlink_to(library / "rain.wav")
    (scripts / "zero.wav").symlink_to("/dev/zero")
    (scripts / "loop.wav").symlink_to(scripts / "loop.wav")
    assert _music(scripts, "rain.wav") == [f"ok {library / 'rain.wav'}"]
    assert _music(scripts, "zero.wav") == ["bed.yaml:3:17: music file /dev/zero is not a regular file (a device, "
                                           "pipe or socket); give an audio file"]
    [loop] = _music(scripts, "loop.wav")
    assert loop.startswith(f"bed.yaml:3:17: music file {scripts / 'loop.wav'} cannot be read: ")


UNREADABLE_CHILD = """
import os, sys
from legsup_audio.errors import ScriptError
from legsup_audio.script.parse import parse_script
"".encode("utf-8-sig")  # load the codec now, too
if os.getuid() == 0:  # after the imports: the interpreter lives where `nobody` may not look
    os.setgid(65534)
    os.setuid(65534)  # nobody: root reads any file, whatever its mode
assert not os.access(sys.argv[1].replace("bed.yaml", "locked.wav"), os.R_OK)
try:
    parse_script(sys.argv[1], display="bed.yaml")
    print("parsed")
except ScriptError as exc:
    print("\\n".join(exc.lines()))
"""


def test_an_unreadable_music_file_is_reported() -> None:
    # Tests run as root here, where a mode-000 file is still readable (and os.access says so).
    # So the check runs in a child process as user `nobody` when we are root: the loader
    # opens the file to test it, which is the honest answer for whoever runs legsup.
    folder = Path(tempfile.mkdtemp(prefix="legsup-unreadable-"))
    try:
        folder.chmod(0o755)
        music = folder / "locked.wav"
        _wav(music)
        music.chmod(0o000)
        script = folder / "bed.yaml"
        script.write_text('title: T\nbackground:\n  music: {file: locked.wav}\nsteps: [{title: S, cues: [a]}]\n',
                          encoding="utf-8")
        script.chmod(0o644)
        result = subprocess.run([sys.executable, "-c", UNREADABLE_CHILD, str(script)], capture_output=True,
                                text=True, timeout=60, cwd=folder)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            f"bed.yaml:3:17: music file {music} cannot be read: Permission denied (check its permissions)"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_cover_that_is_not_a_file_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    script = tmp_path / "c.yaml"
    for cover, why in [("art", "is a folder, not a file"), ("/dev/zero", "is not a regular file (a device, pipe "
                                                                          "or socket)"),
                       ('"a\\0b.png"', "is not a valid file name (it holds a NUL character)")]:
        script.write_text(f"title: T\ncover: {cover}\nsteps: [{{title: S, cues: [a]}}]\n", encoding="utf-8")
        [line] = file_problems(script, "c.yaml")
        assert line.startswith("c.yaml:2:8: cover image ") and line.endswith(
            f"{why}; give a PNG or JPEG path relative to the script"), line


# --- nothing in a script picks where output goes -------------------------------------------------


def test_titles_cannot_move_batch_tracks_out_of_the_output_folder(
    fake_workdir: Path, runner: CliRunner, tmp_path: Path
) -> None:
    # Only -o and the script's file name choose output paths; in a batch the title names the
    # track, made safe by playlist.track_filename (no '/', no '\\', no leading '..' component).
    titles = ["../../etc/x", "/tmp/legsup-escape", "..", "C:\\\\Windows\\\\x"]
    names = []
    for i, title in enumerate(titles):
        (fake_workdir / f"s{i}.yaml").write_text(f'title: "{title}"\nlead_in: 0\ntail: 0\n'
                                                 'steps: [{title: S, cues: [Hi]}]\n', encoding="utf-8")
        names.append(f"s{i}.yaml")
    out = tmp_path / "deep" / "out"
    result = runner.invoke(app, ["export", *names, "-o", str(out)])
    assert result.exit_code == 0, result.output
    made = sorted(p.name for p in out.iterdir())
    assert made == sorted([
        "01 - .._.._etc_x.lrc", "01 - .._.._etc_x.mp3", "01 - .._.._etc_x.vtt",
        "02 - _tmp_legsup-escape.lrc", "02 - _tmp_legsup-escape.mp3", "02 - _tmp_legsup-escape.vtt",
        "03 - Untitled.lrc", "03 - Untitled.mp3", "03 - Untitled.vtt",
        "04 - C__Windows_x.lrc", "04 - C__Windows_x.mp3", "04 - C__Windows_x.vtt",
        "playlist.m3u8",
    ])
    assert all(p.is_file() for p in out.iterdir())
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    assert not Path("/tmp/legsup-escape.mp3").exists() and not (tmp_path / "etc").exists()
