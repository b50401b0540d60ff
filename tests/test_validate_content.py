"""`validate` runs every check `export` makes on a script's own content (issue #17).

Covers (not an image, GIF, a decompression bomb, a huge file), music (silent, too
long, never ending: a time limit and no child left), background frequencies at the
edges of the range, lone surrogate escapes, text that speaks as nothing: each is a
``FILE:LINE:COL`` script error, exit 2, from `validate`, `export` and `timeline` alike,
before anything is spoken or written.  Fake speech engine, real ffmpeg.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import legsup_audio.script.media as media
from legsup_audio.cli import app

STEPS = "steps:\n  - title: One\n    cues: [Hello.]\n"


def script(folder: Path, head: str, steps: str = STEPS) -> Path:
    path = folder / "s.yaml"
    path.write_text(f"title: T\nlead_in: 0.2s\ntail: 0.3s\n{head}{steps}", encoding="utf-8")
    return path


def all_refuse(runner: CliRunner, path: Path, where: str, *words: str) -> None:
    """validate, export and timeline all give the same one script error at ``where`` (LINE:COL)."""
    lines = set()
    for args in (["validate", str(path)], ["export", str(path), "-o", "out.mp3"], ["timeline", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        stderr = result.stderr.strip().splitlines()
        assert len(stderr) == 1, stderr
        lines.add(stderr[0])
    assert len(lines) == 1, lines
    line = lines.pop()
    assert line.startswith(f"{path}:{where}: "), line
    for word in words:
        assert word in line, line
    assert not Path("out.mp3").exists()


def tone(path: Path, seconds: float, expr: str = "sine=440") -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", f"{expr}:d={seconds}", "-y", str(path)],
                   check=True)
    return path


@pytest.mark.parametrize("kind", ["text", "gif", "bomb", "huge", "too-many-pixels"])
def test_a_bad_cover_is_a_script_error(kind: str, fake_workdir: Path, runner: CliRunner,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    art = fake_workdir / "art.png"
    words = {"text": "not a readable image", "gif": "GIF", "bomb": "pixels", "huge": "MB",
             "too-many-pixels": "pixels"}[kind]
    if kind == "text":
        art.write_text("not an image", encoding="utf-8")
    elif kind == "gif":
        Image.new("RGB", (8, 8)).save(art, format="GIF")
    elif kind == "bomb":  # a PNG header claiming 60,000 x 60,000 pixels: refused before decoding
        Image.new("1", (60_000, 60_000)).save(art, format="PNG")
    elif kind == "huge":
        monkeypatch.setattr(media, "MAX_COVER_BYTES", 1000)
        Image.effect_noise((200, 200), 50).convert("RGB").save(art, format="PNG")
    else:
        monkeypatch.setattr(media, "MAX_COVER_PIXELS", 64 * 64)
        Image.new("RGB", (65, 65)).save(art, format="PNG")
    all_refuse(runner, script(fake_workdir, "cover: art.png\n"), "4:8", "cover image", words)


def test_a_good_cover_passes(fake_workdir: Path, runner: CliRunner) -> None:
    Image.new("RGB", (300, 300), (1, 2, 3)).save(fake_workdir / "art.jpg", format="JPEG")
    result = runner.invoke(app, ["validate", str(script(fake_workdir, "cover: art.jpg\n"))])
    assert result.exit_code == 0, result.output


def test_silent_music_is_a_script_error(fake_workdir: Path, runner: CliRunner) -> None:
    tone(fake_workdir / "quiet.wav", 3, "anullsrc=r=44100:cl=stereo")
    path = script(fake_workdir, "background:\n  music: {file: quiet.wav}\n")
    all_refuse(runner, path, "5:17", "silent")


def test_music_too_long_is_a_script_error(fake_workdir: Path, runner: CliRunner,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MUSIC_MAX_SECONDS", 2)
    tone(fake_workdir / "long.mp3", 4)
    all_refuse(runner, script(fake_workdir, "background:\n  music: {file: long.mp3}\n"), "5:17", "longer than")


def test_music_that_never_ends_is_cut_off_by_a_time_limit(fake_workdir: Path, runner: CliRunner,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # An ffconcat playlist that names itself: a regular file that ffmpeg reads forever.
    loop = fake_workdir / "loop.ffconcat"
    tone(fake_workdir / "a.wav", 0.2)
    loop.write_text("ffconcat version 1.0\nfile a.wav\nfile loop.ffconcat\n", encoding="utf-8")
    monkeypatch.setattr(media, "MUSIC_DECODE_SECONDS", 2.0)
    monkeypatch.setattr(media, "MUSIC_MAX_SECONDS", 10_000)
    start = time.monotonic()
    result = runner.invoke(app, ["validate", str(script(fake_workdir, "background:\n  music: {file: loop.ffconcat}\n"))])
    assert result.exit_code == 2, result.output
    assert time.monotonic() - start < 30
    assert "music file" in result.stderr and ":5:17: " in result.stderr


def test_no_ffmpeg_child_survives_a_killed_validate(fake_workdir: Path, tmp_path: Path) -> None:
    fifo_like = fake_workdir / "loop.ffconcat"
    tone(fake_workdir / "a.wav", 0.2)
    fifo_like.write_text("ffconcat version 1.0\nfile a.wav\nfile loop.ffconcat\n", encoding="utf-8")
    path = script(fake_workdir, "background:\n  music: {file: loop.ffconcat}\n")
    env = {**os.environ, "LEGSUP_DECODE_TIMEOUT": "600", "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "legsup_audio", "validate", str(path)], cwd=fake_workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    deadline = time.monotonic() + 30
    while not children and time.monotonic() < deadline:
        time.sleep(0.2)
        children = _children(proc.pid)
    assert children, "validate never started ffmpeg"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and "ffmpeg" in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_good_music_passes(fake_workdir: Path, runner: CliRunner) -> None:
    tone(fake_workdir / "bed.mp3", 2)
    result = runner.invoke(app, ["validate", str(script(fake_workdir, "background:\n  music: {file: bed.mp3}\n"))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("layer", "col"), [
    ("drone: {freq: 0.0001}", 10), ("drone: {freq: 22049.9999}", 10), ("bells: {freq: 30000}", 10),
    ("bells: {freq: 0.0004}", 10), ("isochronic: {freq: 0.0004, rate: 0.0001}", 15),
])
def test_frequencies_at_the_edges_are_script_errors(layer: str, col: int, fake_workdir: Path,
                                                    runner: CliRunner) -> None:
    all_refuse(runner, script(fake_workdir, f"background:\n  {layer}\n"), f"5:{col}", "frequency")


@pytest.mark.parametrize(("head", "steps", "where"), [
    ('title2: x\n', 'steps:\n  - title: "One \\ud800"\n    cues: [Hello.]\n', "5:12"),
    ('author: "A\\udc80"\n', STEPS, "4:9"),
    ("", 'steps:\n  - title: One\n    cues: ["Hi \\ud83d\\ude00"]\n', "6:12"),
])
def test_lone_surrogates_are_script_errors(head: str, steps: str, where: str, fake_workdir: Path,
                                           runner: CliRunner) -> None:
    path = script(fake_workdir, head.replace("title2: x\n", ""), steps)
    all_refuse(runner, path, where, "surrogate")


@pytest.mark.parametrize("text", ["...", "— —", "🙂", "'!?'"])
def test_text_that_speaks_as_nothing_is_a_script_error(text: str, fake_workdir: Path, runner: CliRunner) -> None:
    path = script(fake_workdir, "", f"steps:\n  - title: One\n    cues:\n      - say: {text}\n")
    all_refuse(runner, path, "7:14", "nothing a voice can say")


def test_text_in_any_script_or_with_digits_is_speakable(fake_workdir: Path, runner: CliRunner) -> None:
    path = script(fake_workdir, "", "steps:\n  - title: One\n    cues: ['42', 'Привет', '静かに']\n")
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0


def test_control_characters_and_markup_reach_the_terminal_escaped(fake_workdir: Path, runner: CliRunner) -> None:
    from legsup_audio.compile.timeline import Timeline  # noqa: F401 - the plain play lines use the same text
    from legsup_audio.pipeline import build
    from legsup_audio.playback.session import progress_lines

    path = script(fake_workdir, "", 'steps:\n  - title: "Step \\e[2J"\n    cues: ["Hi \\e[31mred", "[bold]x[/bold] y"]\n')
    for args in (["timeline", str(path)], ["validate", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output
    table = runner.invoke(app, ["timeline", str(path)]).output
    assert "\\x1b[31mred" in table and "[bold]x[/bold]" in table
    lines = progress_lines(build(path).timeline, 0, 10**9)
    assert lines and not any("\x1b" in line for line in lines)
