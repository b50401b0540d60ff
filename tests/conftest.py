"""Shared fixtures: a hermetic working folder where the CLI speaks with the fake engine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import legsup_audio.script.resources as resources

# A shell that starts the suite in the background (`... &`) makes it ignore SIGINT, and
# every process it starts inherits that.  The tests of Ctrl-C need it to mean what it
# means at a terminal: with a handler here, each child starts with the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

@pytest.fixture(scope="session", autouse=True)
def e2e_clip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip cache for the tests that speak the built-in sessions with the real voice.

    Clips are reproducible (the same text gives the same samples in any process), so the
    tests that validate, time and export the built-ins share what they speak instead of
    each speaking minutes of Piper again (``LEGSUP_E2E_CACHE``; set it to keep one across runs).
    """
    if not os.environ.get("LEGSUP_E2E_CACHE"):
        os.environ["LEGSUP_E2E_CACHE"] = str(tmp_path_factory.mktemp("e2e-clips"))
    return Path(os.environ["LEGSUP_E2E_CACHE"])


FAKE_PROFILE = "engine: fake\nvoice: fake/en\nrate: 150\nvolume: 0.9\n"


@pytest.fixture
def fake_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = a tmp folder with ``voices/default.yaml`` and ``voices/calm.yaml`` (engine: fake).

    Clips are cached under tmp (``LEGSUP_CACHE_DIR``), and the repository's built-in
    voices are hidden so the known profiles (and "did you mean" lists) are exactly these two.
    """
    work = tmp_path / "work"
    (work / "voices").mkdir(parents=True)
    for name in ("default", "calm"):
        (work / "voices" / f"{name}.yaml").write_text(FAKE_PROFILE, encoding="utf-8")
    monkeypatch.setenv("LEGSUP_CACHE_DIR", str(tmp_path / "cache"))
    no_builtins = tmp_path / "no-builtins"
    monkeypatch.setattr(resources, "builtin_dir", lambda kind: no_builtins / kind)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# --- subprocess runs of legsup: never a traceback -------------------------------------------------
#
# Every run of the installed command the suite makes (subprocess.run with captured output, or
# Popen(...).communicate()) has its output checked here: a traceback in any of them fails the
# test that made it, whatever that test itself checks.  Tests use ``legsup_run`` or their own helpers;
# both pass through this check.

TRACEBACK = "Traceback (most recent call last)"
_real_run = subprocess.run
_real_communicate = subprocess.Popen.communicate


def is_legsup(args: Any) -> bool:
    """True when ``args`` (a Popen argument list) runs the legsup command or ``-m legsup_audio``."""
    parts = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a)
             for a in (args if isinstance(args, (list, tuple)) else [args])]
    if not parts:
        return False
    return Path(parts[0]).name == "legsup" or any(
        a == "-m" and b == "legsup_audio" for a, b in zip(parts, parts[1:]))


def assert_no_traceback(args: Any, *outputs: Any) -> None:
    for output in outputs:
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        if isinstance(text, str) and TRACEBACK in text:
            raise AssertionError(f"a traceback from {' '.join(map(str, args))}:\n{text[-3000:]}")


def _checked_run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    result = _real_run(*args, **kwargs)
    if is_legsup(result.args):
        assert_no_traceback(result.args, result.stdout, result.stderr)
    return result


def _checked_communicate(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    out, err = _real_communicate(self, *args, **kwargs)
    if is_legsup(self.args):
        assert_no_traceback(self.args, out, err)
    return out, err


@pytest.fixture(autouse=True)
def _no_traceback_in_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", _checked_run)
    monkeypatch.setattr(subprocess.Popen, "communicate", _checked_communicate)


@pytest.fixture
def legsup_run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m legsup_audio ARGS`` in ``cwd``; its output is checked for tracebacks."""

    def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300,
            extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "legsup_audio", *args, *extra], cwd=cwd,
                              env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)

    return run
