"""Speech that hangs: the supervised worker stops it, retries, and reports the cue's line.

The fake engine hangs on purpose on texts marked ``[hang]`` (always) or
``[hang-once]`` (the first try only); the worker running it must be killed and
reaped, a fresh one tried, and after the last try the error must name the
script line of the cue.  Nothing may be left behind: no child processes (not
even zombies), no threads, no output file.  The real espeak-ng engine is run
through the same worker once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from legsup_audio.speech.base import SpeechOptions
from legsup_audio.speech.cache import ClipCache
from legsup_audio.speech.fake import HANG_ONCE_ENV, FakeEngine
from legsup_audio.speech.speaker import Speaker, text_locations
from legsup_audio.speech.supervised import (
    TIMEOUT_ENV,
    TRIES,
    EngineStuck,
    SupervisedEngine,
)

FAKE = SpeechOptions("fake/en", 150, 0.9)
SHORT = "0.5"  # seconds: a hung try costs this (plus a little per character) instead of 10 s


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``, zombies included (an unreaped child is one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it exited while we looked
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def processes_with(env_entry: str) -> list[int]:
    """Processes whose environment holds ``env_entry`` (KEY=value): left-over workers of a test."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if env_entry.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, SHORT)


def test_a_hung_engine_is_killed_retried_and_reported(short_timeout: None) -> None:
    threads_before = set(threading.enumerate())
    engine = SupervisedEngine(FakeEngine)
    try:
        with pytest.raises(EngineStuck) as caught:
            engine.synthesize("Stay [hang] here.", FAKE)
        assert engine.starts == TRIES  # each try in a fresh worker
        message = str(caught.value)
        assert "hung on 'Stay [hang] here.'" in message and f"{TRIES} tries" in message, message
        assert TIMEOUT_ENV in message  # says how to allow more time
        assert children(os.getpid()) == []  # every killed worker was reaped: no zombies
        # The engine is still usable afterwards: a fresh worker speaks the next text.
        clip = engine.synthesize("Fine again.", FAKE)
        assert clip.samples.tobytes() == FakeEngine().synthesize("Fine again.", FAKE).samples.tobytes()
        assert len(children(os.getpid())) == 1
    finally:
        engine.close()
    assert children(os.getpid()) == []
    assert set(threading.enumerate()) == threads_before


def test_a_hang_on_the_first_try_only_succeeds_on_the_retry(short_timeout: None, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "hang-once"
    token.touch()
    monkeypatch.setenv(HANG_ONCE_ENV, str(token))
    engine = SupervisedEngine(FakeEngine)
    try:
        clip = engine.synthesize("Wait [hang-once] now.", FAKE)
    finally:
        engine.close()
    assert not token.exists()  # the first worker really did take the hanging path
    assert engine.starts == 2
    assert clip.samples.tobytes() == FakeEngine().synthesize("Wait [hang-once] now.", FAKE).samples.tobytes()
    assert children(os.getpid()) == []


def test_a_worker_that_dies_is_replaced() -> None:
    engine = SupervisedEngine(FakeEngine)
    try:
        engine.synthesize("One.", FAKE)
        first = children(os.getpid())
        assert len(first) == 1
        os.kill(first[0], signal.SIGKILL)
        clip = engine.synthesize("Two.", FAKE)
        assert clip.frames > 0 and engine.starts == 2
        assert children(os.getpid()) != first
    finally:
        engine.close()
    assert children(os.getpid()) == []


def test_one_worker_serves_every_clip_and_a_warm_cache_starts_none(tmp_path: Path) -> None:
    texts = ["First.", "Second.", "Third.", "First."]
    cache = ClipCache(tmp_path / "cache")
    cold = SupervisedEngine(FakeEngine)
    try:
        refs = Speaker(cold, FAKE, cache).speak(texts)
    finally:
        cold.close()
    assert cold.starts == 1 and len(refs) == 3
    warm = SupervisedEngine(FakeEngine)
    try:
        again = Speaker(warm, FAKE, cache).speak(texts)
    finally:
        warm.close()
    assert warm.starts == 0  # nothing to synthesise: no worker, no cost
    assert again == refs
    assert children(os.getpid()) == []


def test_each_text_is_located_at_the_first_cue_that_speaks_it(tmp_path: Path) -> None:
    from legsup_audio.script.parse import parse_script

    path = tmp_path / "s.yaml"
    path.write_text("title: T\nsteps:\n  - title: A\n    cues:\n      - Fine.\n      - say: Twice.\n"
                    "  - title: B\n    cues:\n      - Twice.\n      - Fine.\n", encoding="utf-8")
    script = parse_script(path, known_voices={"default": None})
    assert text_locations(script) == {"Fine.": f"{path}:5:9", "Twice.": f"{path}:6:9"}


def legsup(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], check=False, cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def hang_work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "voices").mkdir(parents=True)
    (work / "voices" / "default.yaml").write_text("engine: fake\nvoice: fake/en\nrate: 150\nvolume: 0.9\n")
    (work / "out").mkdir()
    return work


def test_the_cli_recovers_from_one_hang_and_reports_a_lasting_one_by_its_line(hang_work: Path,
                                                                             tmp_path: Path) -> None:
    (hang_work / "hang.yaml").write_text(
        "title: Hang\nsteps:\n  - title: One\n    cues:\n      - Hello there.\n      - Slow [hang-once] start.\n"
        "      - say: Stuck [hang] here.\n", encoding="utf-8")
    token = tmp_path / "token"
    token.touch()
    cache = str(tmp_path / "cache")
    result = legsup("export", "hang.yaml", "-o", "out/hang.mp3", cwd=hang_work,
                    LEGSUP_CACHE_DIR=cache, **{TIMEOUT_ENV: SHORT, HANG_ONCE_ENV: str(token)})
    assert result.returncode == 1, result.stderr  # a SpeechError: the work could not be done
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    # The cue that hung once was retried and spoken; the one that always hangs is named by its line.
    assert not token.exists()
    assert lines[0].startswith("hang.yaml:7:9: the speech engine hung on 'Stuck [hang] here.'"), lines[0]
    assert f"{TRIES} tries" in lines[0]
    assert list((hang_work / "out").iterdir()) == []  # no output, no temporary file
    assert processes_with(f"LEGSUP_CACHE_DIR={cache}") == []  # no worker outlived the command
    assert len(list(Path(cache).glob("*/*.wav"))) == 2  # the two cues that were spoken are kept


def test_the_real_engine_speaks_through_the_worker(tmp_path: Path) -> None:
    from legsup_audio.speech.pyttsx3_engine import Pyttsx3Engine
    from legsup_audio.speech.voices import get_profile

    options = get_profile("classic").options  # the built-in espeak-ng profile
    # Earlier tests' workers may still await garbage collection: only this test's count.
    before = set(children(os.getpid()))
    engine = SupervisedEngine(Pyttsx3Engine)
    try:
        assert engine.has_voice(options.voice)
        clip = engine.synthesize("Hello there.", options)
        scratch = [Path(f"/proc/{pid}/environ").read_bytes() for pid in children(os.getpid()) if pid not in before]
    finally:
        engine.close()
    assert engine.starts == 1
    assert clip.rate == 22050 and 0.3 < clip.frames / clip.rate < 3.0
    assert int(abs(clip.samples.astype(int)).max()) > 3000  # real speech, not silence
    # The first clip of a fresh espeak-ng engine is reproducible: the same as a fresh engine in a
    # process of its own.  Not this one: espeak-ng's output depends on what the process said
    # before, and earlier tests in the run speak in-process (this failed when they did).
    fresh = tmp_path / "fresh.raw"
    code = (
        "import sys\n"
        "from legsup_audio.speech.pyttsx3_engine import Pyttsx3Engine\n"
        "from legsup_audio.speech.voices import get_profile\n"
        "engine = Pyttsx3Engine()\n"
        "try:\n"
        "    clip = engine.synthesize('Hello there.', get_profile('classic').options)\n"
        "finally:\n"
        "    engine.close()\n"
        "open(sys.argv[1], 'wb').write(clip.samples.tobytes())\n"
    )
    subprocess.run([sys.executable, "-c", code, str(fresh)], check=True, capture_output=True, timeout=120)
    assert clip.samples.tobytes() == fresh.read_bytes()
    # The worker's temporary folder (its TMPDIR) is gone with it.
    tmpdirs = [v.split(b"=", 1)[1].decode() for env in scratch for v in env.split(b"\0") if v.startswith(b"TMPDIR=")]
    assert len(tmpdirs) == 1 and not Path(tmpdirs[0]).exists()
    assert set(children(os.getpid())) - before == set()
