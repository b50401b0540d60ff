"""Output paths that writing could turn into a loss are refused before any work (issue #17).

An output that is an input of the same run (script, cover, music), anything but a
regular file or a new name (a device, a FIFO, a folder, a link to one, a link to
nothing), or a read-only file (unless ``--force``) is exit 2 with one line, and
nothing on disk changes.  The format follows ``-o``'s extension; a clash with
``--format`` is an error.  Fake speech engine, real ffmpeg.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from legsup_audio.cli import app
from legsup_audio.errors import UsageError
from legsup_audio.output.export import choose_format
from legsup_audio.output.files import check_target

SCRIPT = "title: Tiny Session\nlead_in: 0.2s\ntail: 0.3s\nsteps:\n  - title: One\n    cues:\n      - Hello there.\n"


@pytest.fixture
def tiny(fake_workdir: Path) -> Path:
    path = fake_workdir / "tiny.yaml"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every entry under ``folder`` (not following links): its type bits, mode and, for files, content."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        found[str(path.relative_to(folder))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), data)
    return found


def refused(runner: CliRunner, args: list[str], folder: Path, *words: str) -> str:
    before = snapshot(folder)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    assert snapshot(folder) == before  # nothing touched: no new file, no temporary file, no mode change
    return lines[0]


def test_export_over_its_own_script_is_refused(tiny: Path, fake_workdir: Path, runner: CliRunner) -> None:
    # `-o tiny.yaml` names no audio format; `--format mp3 -o tiny.yaml` is a clash; both refuse.
    refused(runner, ["export", str(tiny), "-o", str(tiny)], fake_workdir, "-o")
    refused(runner, ["export", str(tiny), "-o", str(tiny), "--format", "mp3"], fake_workdir, "-o")
    link = fake_workdir / "script.mp3"
    link.symlink_to(tiny)
    refused(runner, ["export", str(tiny), "-o", str(link)], fake_workdir, "input")


def test_export_over_its_cover_or_music_is_refused(fake_workdir: Path, runner: CliRunner) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=440:d=3", "-y",
                    str(fake_workdir / "bed.mp3")], check=True)
    from PIL import Image

    Image.new("RGB", (64, 64), (10, 20, 30)).save(fake_workdir / "art.lrc", format="PNG")
    script = fake_workdir / "s.yaml"
    script.write_text("title: T\ncover: art.lrc\nbackground:\n  music: {file: bed.mp3}\n"
                      "steps:\n  - title: One\n    cues: [Hello.]\n", encoding="utf-8")
    refused(runner, ["export", str(script), "-o", "bed.mp3"], fake_workdir, "bed.mp3", "input")
    # a caption beside the track is an output too (a PNG cover may have any name)
    refused(runner, ["export", str(script), "-o", "art.wav", "--no-background"], fake_workdir, "art.lrc", "input")
    (fake_workdir / "x.vtt").write_text("WEBVTT\n", encoding="utf-8")
    os.chmod(fake_workdir / "x.vtt", 0o444)
    refused(runner, ["export", str(script), "-o", "x.mp3"], fake_workdir, "read-only", "--force")


@pytest.mark.parametrize("kind", ["fifo", "folder", "device", "link-to-device", "dangling-link"])
def test_export_to_anything_but_a_file_is_refused(kind: str, tiny: Path, fake_workdir: Path,
                                                  runner: CliRunner) -> None:
    target = fake_workdir / "out.mp3"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":  # -o may name a folder: then its default name in there must not be one
        target.mkdir()
        (target / "tiny.mp3").mkdir()
    elif kind == "device":
        target = Path("/dev/null")
    elif kind == "link-to-device":
        target.symlink_to("/dev/null")
    else:
        target.symlink_to(fake_workdir / "nowhere.mp3")
    before = os.stat("/dev/null")
    refused(runner, ["export", str(tiny), "-o", str(target)], fake_workdir, str(target))
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_read_only_target_needs_force_and_keeps_its_mode(tiny: Path, fake_workdir: Path,
                                                           runner: CliRunner) -> None:
    target = fake_workdir / "old.mp3"
    target.write_bytes(b"an older export")
    os.chmod(target, 0o444)
    refused(runner, ["export", str(tiny), "-o", str(target)], fake_workdir, "read-only", "--force")
    result = runner.invoke(app, ["export", str(tiny), "-o", str(target), "--force"])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() != b"an older export"
    assert stat.S_IMODE(target.stat().st_mode) == 0o444  # replaced, and still read-only


def test_a_link_to_a_file_is_written_through(tiny: Path, fake_workdir: Path, runner: CliRunner) -> None:
    real = fake_workdir / "music" / "real.mp3"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = fake_workdir / "link.mp3"
    link.symlink_to(real)
    result = runner.invoke(app, ["export", str(tiny), "-o", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_bytes()[:3] in (b"ID3", b"\xff\xfb\x90")


@pytest.mark.parametrize(("name", "fmt", "expected"), [
    ("x.m4a", None, "m4a"), ("x.OGG", None, "ogg"), ("x.wav", "wav", "wav"), ("x", None, "mp3"),
    ("x", "ogg", "ogg"), ("dir/", "m4b", "m4b"), (None, None, "mp3"), (None, "WAV", "wav"),
])
def test_the_format_follows_the_extension(name: str | None, fmt: str | None, expected: str) -> None:
    assert choose_format(fmt, Path(name) if name else None) == expected


@pytest.mark.parametrize(("name", "fmt", "words"), [
    ("x.m4a", "mp3", "--format"), ("x.mp4", None, ".mp4"), ("x.yaml", None, ".yaml"), ("x.lrc", None, "caption"),
    ("x.mp3", "flac", "unknown format"),
])
def test_a_clash_or_an_unknown_extension_is_an_error(name: str, fmt: str | None, words: str) -> None:
    with pytest.raises(UsageError, match=words.replace(".", r"\.")):
        choose_format(fmt, Path(name))


def test_export_m4a_by_extension_writes_m4a(tiny: Path, fake_workdir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["export", str(tiny), "-o", "x.m4a"])
    assert result.exit_code == 0, result.output
    assert b"ftyp" in (fake_workdir / "x.m4a").read_bytes()[:16]
    refused(runner, ["export", str(tiny), "-o", "y.m4a", "--format", "mp3"], fake_workdir, "--format")


def test_timeline_files_and_voices_try_and_schema_are_checked(tiny: Path, fake_workdir: Path,
                                                              runner: CliRunner) -> None:
    os.mkfifo(fake_workdir / "pipe.html")
    refused(runner, ["timeline", str(tiny), "--html", "pipe.html"], fake_workdir, "--html", "FIFO")
    refused(runner, ["timeline", str(tiny), "--labels", str(tiny)], fake_workdir, "--labels", "input")
    refused(runner, ["timeline", str(tiny), "--labels", "/dev/null"], fake_workdir, "device")
    (fake_workdir / "null.wav").symlink_to("/dev/null")
    refused(runner, ["voices", "try", "calm", "-o", "null.wav"], fake_workdir, "device")
    (fake_workdir / "sample.wav").mkdir()
    refused(runner, ["voices", "try", "calm", "-o", "sample.wav"], fake_workdir, "folder")
    (fake_workdir / "schema.json").write_text("{}", encoding="utf-8")
    os.chmod(fake_workdir / "schema.json", 0o400)
    refused(runner, ["schema", "-o", "schema.json"], fake_workdir, "read-only")
    assert runner.invoke(app, ["schema", "-o", "schema.json", "--force"]).exit_code == 0


def test_new_never_copies_a_script_over_itself(fake_workdir: Path, runner: CliRunner) -> None:
    (fake_workdir / "scripts").mkdir()
    own = fake_workdir / "scripts" / "mine.yaml"
    own.write_text(SCRIPT, encoding="utf-8")
    refused(runner, ["new", "mine", "--from", str(own), "--force"], fake_workdir, "input")


def test_a_batch_checks_its_playlist_and_the_phone_copy(tiny: Path, fake_workdir: Path, runner: CliRunner) -> None:
    (fake_workdir / "album").mkdir()
    os.mkfifo(fake_workdir / "album" / "playlist.m3u8")
    refused(runner, ["export", str(tiny), str(tiny), "-o", "album"], fake_workdir, "playlist.m3u8")
    phone = fake_workdir / "phone"
    phone.mkdir()
    (phone / "tiny.lrc").mkdir()
    result = runner.invoke(app, ["export", str(tiny), "-o", "out/", "--to", str(phone)])
    # the copy's targets are checked with the export's, before any work: nothing is written anywhere
    assert result.exit_code == 2 and "--to" in result.stderr and "tiny.lrc is a folder" in result.stderr, result.output
    assert sorted(p.name for p in phone.iterdir()) == ["tiny.lrc"]
    assert not (fake_workdir / "out" / "tiny.mp3").exists()


def test_check_target_accepts_new_names_and_plain_files(tmp_path: Path) -> None:
    check_target(tmp_path / "new.mp3")
    (tmp_path / "old.mp3").write_bytes(b"x")
    check_target(tmp_path / "old.mp3")
    with pytest.raises(UsageError, match="NUL"):
        check_target(Path("a\0b.mp3"))
    with pytest.raises(UsageError, match="too long"):
        check_target(tmp_path / ("x" * 300 + ".mp3"))


def test_names_past_the_file_systems_limit_are_one_line_each(fake_workdir: Path, runner: CliRunner) -> None:
    long_script = fake_workdir / ("x" * 250 + ".yaml")  # its track's name fits; its temporary file's must too
    long_script.write_text(SCRIPT, encoding="utf-8")
    result = runner.invoke(app, ["export", long_script.name])
    assert result.exit_code == 0, result.output
    assert sorted(p.suffix for p in (fake_workdir / "output").iterdir()) == [".lrc", ".mp3", ".vtt"]
    for args in (["export", long_script.name, "-o", "w" * 300 + ".mp3"], ["play", "w" * 300],
                 ["new", "n" * 300], ["timeline", long_script.name, "--labels", "l" * 300]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args[0], result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert len(result.stderr.strip().splitlines()) == 1


def test_stale_part_files_beside_the_target_are_swept(tiny: Path, fake_workdir: Path, runner: CliRunner) -> None:
    import time

    from legsup_audio.output.files import STALE_SECONDS

    out = fake_workdir / "out"
    out.mkdir()
    stale, fresh, other = out / ".t.abcd1234.part.mp3", out / ".t.efgh5678.part.mp3", out / ".u.abcd1234.part.mp3"
    for path in (stale, fresh, other):
        path.write_bytes(b"left by a killed export")
    past = time.time() - STALE_SECONDS - 60
    os.utime(stale, (past, past))
    os.utime(other, (past, past))
    result = runner.invoke(app, ["export", str(tiny), "-o", str(out / "t.mp3")])
    assert result.exit_code == 0, result.output
    assert not stale.exists() and fresh.exists() and other.exists()  # only this target's, only old ones
