"""Shared fixtures: a hermetic working folder where the CLI speaks with the fake engine."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

import legsup_audio.script.resources as resources

# A shell that starts the suite in the background (`... &`) makes it ignore SIGINT, and
# every process it starts inherits that.  The tests of Ctrl-C need it to mean what it
# means at a terminal: with a handler here, each child starts with the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
