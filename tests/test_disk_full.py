"""A full disk during a real ``legsup export``: at the target folder, at ``--to``, under the cache.

A full disk is made two ways.  Always: the export runs with a file-size limit
(``RLIMIT_FSIZE``), so a write past it fails with ``EFBIG`` just where a full
disk fails with ``ENOSPC`` (Python's writes get the error; ffmpeg, whose
``SIGXFSZ`` the subprocess module resets, is killed by it), set at start, or
lowered while the export is paused by the ``LEGSUP_PAUSE_AT`` hook.  And where
the machine lets root mount one (it does here and in CI), a real 64 KiB tmpfs
gives ffmpeg and the copy a true ``ENOSPC``; elsewhere that test falls back to
the file-size limit rather than being skipped.  Each failure must be one clear
line with exit status 1, the target absent or as it was, no temporary file, and
a clip cache that a following export (no limit, same cache) uses to produce the
same audio as a clean run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mutagen import MutagenError
from test_interrupts import (
    OLD,
    WAIT_S,
    group_members,
    leftovers,
    make_work,
    names,
    start,
    warm_cache,  # noqa: F401 - a fixture: the clip cache both test files start from
)

from legsup_audio.output.encode import ffmpeg_failure
from legsup_audio.output.files import explain, os_error_in
from legsup_audio.speech.cache import read_clip

SINGLE = ["export", "a.yaml", "-o", "out/a.mp3"]


def run(args: list[str], work: dict, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], cwd=work["root"], env=work["env"],
                          capture_output=True, text=True, timeout=WAIT_S, preexec_fn=limited, check=False)


def decoded(path: Path) -> bytes:
    """The audio of ``path`` as raw PCM, as a player hears it."""
    return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "s16le", "-"],
                          check=True, capture_output=True, timeout=WAIT_S).stdout


def one_error_line(result: subprocess.CompletedProcess[str], *phrases: str, status: int = 1) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # one line, no traceback
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def assert_cache_consistent(cache: Path) -> None:
    """No temporary file, and every entry whole (a half-written clip would be read back as missing)."""
    assert not leftovers(cache), leftovers(cache)
    entries = list(cache.rglob("*.wav"))
    assert all(read_clip(path) is not None for path in entries), entries


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, warm_cache: Path) -> dict:  # noqa: F811 - the fixture
    """A clean export (from a cache filled by a clean run): the size of the finished file and its audio."""
    base = tmp_path_factory.mktemp("clean")
    shutil.copytree(warm_cache, base / "cache")
    work = make_work(base / "work", base / "cache", base / "tmp")
    result = run(SINGLE, work)
    assert result.returncode == 0, result.stderr
    mp3 = work["root"] / "out" / "a.mp3"
    return {"size": mp3.stat().st_size, "audio": decoded(mp3), "cache": base / "cache"}


@pytest.fixture
def work(tmp_path: Path) -> dict:
    work = make_work(tmp_path / "work", tmp_path / "cache", tmp_path / "tmp")
    (work["root"] / "out").mkdir()
    (work["root"] / "out" / "a.mp3").write_bytes(OLD)
    return work


def warm(work: dict, clean: dict) -> None:
    shutil.copytree(clean["cache"], work["cache"], dirs_exist_ok=True)


def assert_recovers(work: dict, clean: dict) -> None:
    """Room again: the same cache gives a complete export with the clean run's audio."""
    assert_cache_consistent(work["cache"])
    again = run(SINGLE, work)
    assert again.returncode == 0, again.stderr
    assert decoded(work["root"] / "out" / "a.mp3") == clean["audio"]


def test_the_target_folder_fills_up_while_encoding(work: dict, clean: dict) -> None:
    warm(work, clean)
    result = run(SINGLE, work, limit=16 * 1024)  # ffmpeg passes it within the first seconds of audio
    one_error_line(result, "cannot write to out", "larger than", "choose another place with -o")
    assert (work["root"] / "out" / "a.mp3").read_bytes() == OLD
    assert names(work["root"] / "out") == ["a.mp3"]
    assert names(work["tmp"]) == []
    assert_recovers(work, clean)


def test_the_target_folder_fills_up_while_tagging(work: dict, clean: dict) -> None:
    warm(work, clean)
    # Room for the encoded audio but not for the tags and cover art that mutagen adds.
    result = run(SINGLE, work, limit=clean["size"] - 1024)
    one_error_line(result, "could not write the tags of out/a.mp3", "larger than", "choose another place with -o")
    assert (work["root"] / "out" / "a.mp3").read_bytes() == OLD
    assert names(work["root"] / "out") == ["a.mp3"]
    assert names(work["tmp"]) == []


def test_the_cache_folder_fills_up_while_speaking(work: dict, clean: dict) -> None:
    result = run(SINGLE, work, limit=1024)  # a cold cache: the first clip does not fit
    one_error_line(result, "cannot store the spoken clips", "LEGSUP_CACHE_DIR")
    assert (work["root"] / "out" / "a.mp3").read_bytes() == OLD
    assert names(work["root"] / "out") == ["a.mp3"]
    assert names(work["tmp"]) == []
    assert_recovers(work, clean)


@pytest.mark.parametrize("command", [["timeline", "a.yaml"], ["validate", "a.yaml"], ["play", "a.yaml"]])
def test_every_command_that_speaks_says_the_cache_is_full_in_one_line(work: dict, command: list[str]) -> None:
    result = run(command, work, limit=1024)  # a cold cache: the first clip does not fit
    one_error_line(result, "cannot store the spoken clips", "LEGSUP_CACHE_DIR")
    assert_cache_consistent(work["cache"])
    assert names(work["tmp"]) == []


def test_a_failure_in_the_speech_scratch_folder_names_tmpdir_not_the_cache(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from legsup_audio.pipeline import speech_failure

    monkeypatch.setenv("LEGSUP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    full = errno.ENOSPC, "No space left on device"
    scratch = speech_failure(OSError(*full, str(tmp_path / "tmp" / "legsup-speech-x")))
    assert scratch == f"cannot make the spoken clips: the disk holding {tmp_path / 'tmp'} is full; free some " \
                      "space or choose another place with TMPDIR"
    cache = speech_failure(OSError(*full, str(tmp_path / "cache" / "ab" / "clip.wav")))
    assert cache.startswith(f"cannot store the spoken clips: the disk holding {tmp_path / 'cache' / 'ab'} is full")
    assert cache.endswith("LEGSUP_CACHE_DIR")
    nameless = speech_failure(OSError(*full))
    assert f"the disk holding {tmp_path / 'cache'} is full" in nameless and nameless.endswith("LEGSUP_CACHE_DIR")


def copy_to_a_full_phone(work: dict, lower_limit: bool) -> tuple[int, list[str]]:
    """Export with ``--to phone``; with ``lower_limit``, the phone "fills up" just as the copy starts."""
    proc = start([*SINGLE, "--to", "phone"], work["root"], work["env"], "copying" if lower_limit else None)
    try:
        if lower_limit:
            proc.wait_for("legsup-test: at copying")
            # The export is finished and stopped before the first byte of the copy: now the phone is full.
            resource.prlimit(proc.proc.pid, resource.RLIMIT_FSIZE, (1024, 1024))
            proc.proc.send_signal(signal.SIGCONT)
        lines = proc.finish()
    finally:
        proc.kill()
    assert group_members(proc.proc.pid) == []
    return proc.proc.returncode, lines


def test_the_to_folder_fills_up_while_copying(work: dict, clean: dict) -> None:
    warm(work, clean)
    phone = work["root"] / "phone"
    phone.mkdir()
    (phone / "a.mp3").write_bytes(OLD)
    status, lines = copy_to_a_full_phone(work, lower_limit=True)
    assert status == 1 and len(lines) == 1, lines
    assert "cannot copy a.mp3 to phone" in lines[0] and "choose another place with --to" in lines[0], lines[0]
    assert (phone / "a.mp3").read_bytes() == OLD
    assert names(phone) == ["a.mp3"]
    assert names(work["root"] / "out") == ["a.lrc", "a.mp3", "a.vtt"]  # the export itself is complete
    assert decoded(work["root"] / "out" / "a.mp3") == clean["audio"]


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "64k") -> Iterator[bool]:
    """``folder`` on a tmpfs of ``size``; yields False (a plain folder) where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, check=False).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.parametrize("where", ["target", "to"])
def test_a_really_full_disk(work: dict, clean: dict, where: str) -> None:
    warm(work, clean)
    folder, option = ("small", "-o") if where == "target" else ("phone", "--to")
    full = work["root"] / folder
    with small_disk(full) as mounted:
        (full / "a.mp3").write_bytes(OLD)
        # Without a tmpfs, a file-size limit stands in (and the checks that follow are the same).
        if where == "target":
            result = run(["export", "a.yaml", "-o", "small/a.mp3"], work, limit=None if mounted else 16 * 1024)
            status, lines = result.returncode, [line for line in result.stderr.splitlines() if line.strip()]
        else:
            status, lines = copy_to_a_full_phone(work, lower_limit=not mounted)
        assert status == 1 and len(lines) == 1, lines
        assert f"choose another place with {option}" in lines[0], lines[0]
        assert (f"the disk holding {folder} is full" if mounted else "larger than") in lines[0], lines[0]
        if where == "target" and mounted:  # ffmpeg's own error (it exits 0 from a full disk writing MP3)
            assert lines[0].startswith("the disk holding small is full"), lines[0]
        if where == "to":
            assert "cannot copy a.mp3 to phone" in lines[0], lines[0]
        assert (full / "a.mp3").read_bytes() == OLD
        assert names(full) == ["a.mp3"]  # no temporary file left on the full disk
    assert names(work["tmp"]) == []
    assert_cache_consistent(work["cache"])


# --------------------------------------------------------------------------- the messages, in process


@pytest.mark.parametrize("err, says", [
    (errno.ENOSPC, "the disk holding out is full; free some space or choose another place with -o"),
    (errno.EDQUOT, "the disk holding out is full"),
    (errno.EFBIG, "cannot write to out: the file is larger than"),
    (errno.EACCES, "cannot write to out: permission denied; choose another place with -o"),
    (errno.EROFS, "cannot write to out: it is on a read-only file system; choose another place with -o"),
])
def test_each_write_error_has_a_clear_message_from_ffmpeg_and_from_python(err: int, says: str) -> None:
    strerror = os.strerror(err)
    from_ffmpeg = ffmpeg_failure("mp3", Path("out/a.mp3"), 1,
                                 [f"[out#0/mp3 @ 0x55] Error opening output out/.a.part.mp3: {strerror}"])
    assert from_ffmpeg.startswith(says), from_ffmpeg
    assert explain(OSError(err, strerror), Path("out")).startswith(says)
    # mutagen wraps the OSError of a failed tag write in its own error type
    wrapped = MutagenError(OSError(err, strerror))
    found = os_error_in(wrapped)
    assert found is not None and found.errno == err


def test_an_ffmpeg_killed_by_the_file_size_limit_is_a_clear_error() -> None:
    assert "larger than" in ffmpeg_failure("mp3", Path("out/a.mp3"), -signal.SIGXFSZ, [])
    assert ffmpeg_failure("mp3", Path("out/a.mp3"), 1, ["Unknown encoder 'x'"]) == (
        "ffmpeg could not encode mp3: Unknown encoder 'x'")


@pytest.mark.parametrize("where", ["target", "to"])
def test_a_read_only_folder(work: dict, clean: dict, where: str) -> None:
    warm(work, clean)
    folder, option = ("small", "-o") if where == "target" else ("phone", "--to")
    locked = work["root"] / folder
    with small_disk(locked) as mounted:
        (locked / "a.mp3").write_bytes(OLD)
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(locked)], check=True)
        else:  # no tmpfs here: /proc refuses new files even to root
            locked = Path("/proc/legsup-test")
        args = ["export", "a.yaml", "-o", f"{locked}/a.mp3"] if where == "target" else [*SINGLE, "--to", str(locked)]
        result = run(args, work)
        # A read-only mount is the machine's state (exit 1); /proc takes no files from anyone: a bad --to (exit 2).
        status = 1 if mounted or where == "target" else 2
        line = one_error_line(result, f"cannot write to {locked}", f"choose another place with {option}", status=status)
        if mounted:
            assert "read-only file system" in line, line
            assert (locked / "a.mp3").read_bytes() == OLD and names(locked) == ["a.mp3"]
    # With --to, refused before anything was made: the earlier export in out/ is left as it was.
    assert names(work["root"] / "out") == ["a.mp3"]
    if where == "to":
        assert (work["root"] / "out" / "a.mp3").read_bytes() == OLD
    assert names(work["tmp"]) == []
