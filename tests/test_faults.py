"""Faults a user can meet, through real ``legsup`` subprocesses.

Missing ffmpeg, a missing espeak-ng library, an output folder that cannot be
written, a broken script: each must end in one clear line, the documented exit
status, no traceback, and no file written or overwritten.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = "title: Tiny\nsteps:\n  - title: One\n    cues:\n      - Hello there.\n"
OLD = b"an older export that must survive"


def legsup(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "tiny.yaml").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tiny.mp3").write_bytes(OLD)
    return tmp_path


def assert_clean_failure(result: subprocess.CompletedProcess[str], status: int, *phrases: str) -> None:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def assert_untouched(work: Path) -> None:
    assert (work / "out" / "tiny.mp3").read_bytes() == OLD
    assert sorted(p.name for p in (work / "out").iterdir()) == ["tiny.mp3"]  # no temporary files left


def test_missing_ffmpeg(work: Path, tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = legsup("export", "tiny.yaml", "-o", "out/tiny.mp3", cwd=work, PATH=str(empty_bin),
                    LEGSUP_CACHE_DIR=str(tmp_path / "cache"))
    assert_clean_failure(result, 1, "ffmpeg is not installed", "tools/setup.sh")
    assert_untouched(work)


def test_missing_espeak_library(work: Path, tmp_path: Path) -> None:
    # A sitecustomize that makes every attempt to load libespeak fail, as on a machine without it.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import ctypes\n"
        "_real = ctypes.CDLL.__init__\n"
        "def _init(self, name, *a, **k):\n"
        "    if name and 'espeak' in str(name):\n"
        "        raise OSError(f'{name}: cannot open shared object file')\n"
        "    _real(self, name, *a, **k)\n"
        "ctypes.CDLL.__init__ = _init\n"
    )
    # The espeak-ng profile: the default Piper voice carries its own phonemiser, not this library.
    result = legsup("export", "tiny.yaml", "-o", "out/tiny.mp3", "--voice", "classic", cwd=work,
                    PYTHONPATH=str(hide), LEGSUP_CACHE_DIR=str(tmp_path / "cache"))
    assert_clean_failure(result, 1, "espeak-ng", "tools/setup.sh")
    assert_untouched(work)


@pytest.mark.parametrize("target", ["file-not-folder", "proc"])
def test_unwritable_output_folder(work: Path, tmp_path: Path, target: str) -> None:
    if target == "file-not-folder":
        (work / "plain-file").write_text("x")
        dest = "plain-file/tiny.mp3"
    else:
        dest = "/proc/legsup-test/tiny.mp3"  # not writable even for root
    result = legsup("export", "tiny.yaml", "-o", dest, cwd=work, LEGSUP_CACHE_DIR=str(tmp_path / "cache"))
    assert_clean_failure(result, 1, "cannot write" if target == "proc" else "not a folder")
    assert_untouched(work)


def test_broken_script_writes_nothing(work: Path, tmp_path: Path) -> None:
    (work / "tiny.yaml").write_text("title: Tiny\nstepz: []\n", encoding="utf-8")
    result = legsup("export", "tiny.yaml", "-o", "out/tiny.mp3", cwd=work, LEGSUP_CACHE_DIR=str(tmp_path / "cache"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [  # one error for the typo, not also "the script has no 'steps'" (#17)
        "tiny.yaml:2:1: unknown key 'stepz' in the script (did you mean 'steps'?)",
    ]
    assert_untouched(work)


def test_unknown_script_name(work: Path) -> None:
    result = legsup("timeline", "legs-up-the-wal", cwd=work)
    assert_clean_failure(result, 2, "no script named 'legs-up-the-wal'", "did you mean 'legs-up-the-wall'")


def test_bad_format_option(work: Path) -> None:
    result = legsup("export", "tiny.yaml", "--format", "flac", cwd=work)
    assert_clean_failure(result, 2, "unknown format 'flac'")
    assert_untouched(work)


@pytest.mark.parametrize("sig, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupted_export_leaves_the_target_as_it_was(work: Path, tmp_path: Path, sig: str, status: int) -> None:
    import signal
    import time

    # Long enough (20 minutes of audio) that the signal lands while it is encoding.
    steps = "\n".join(f"  - title: Part {i}\n    duration: 5m\n    cues:\n      - Rest now, part {i}." for i in range(4))
    (work / "long.yaml").write_text(f"title: Long\nsteps:\n{steps}\n", encoding="utf-8")
    (work / "out" / "long.mp3").write_bytes(OLD)
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-m", "legsup_audio", "timeline", "long.yaml"], cwd=work, env=env,
                   check=True, capture_output=True, timeout=300)  # warm the cache: the export starts at once
    proc = subprocess.Popen([sys.executable, "-m", "legsup_audio", "export", "long.yaml", "-o", "out/long.mp3"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".long.") for p in (work / "out").iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, "the export never started writing"
        time.sleep(0.01)
    time.sleep(0.5)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err and err.strip().startswith("legsup: stopped")
    assert (work / "out" / "long.mp3").read_bytes() == OLD
    assert sorted(p.name for p in (work / "out").iterdir()) == ["long.mp3", "tiny.mp3"]
