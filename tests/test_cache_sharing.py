"""The clip cache is safe to share: concurrent exports, and damaged entries made again.

Real espeak-ng is *not* bit-for-bit reproducible across a session: a clip's
samples depend a little on what the same engine spoke before (``Legs up.``
spoken six times in one engine gave 26874, 26888, 26902, ... frames), though a
fresh engine speaking the same texts in the same order repeats itself exactly.
So two cold exports of one script need not match each other exactly when they
share a cache (each may find some clips already made by the other, changing
what its engine speaks next).  What must hold exactly is that every export is
the track its cache's entries make: an entry, once written, is never swapped
under a process that uses it, so each concurrent export equals a later warm
export from the same cache.  Against a lone export with a clean cache they are
compared by measurable properties.  The fake engine is deterministic, so the
damaged-entry cases compare with a clean-cache track exactly.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from legsup_audio.speech.cache import ClipCache, _probe, read_clip
from legsup_audio.speech.fake import FakeEngine

SCRIPT_A = ("title: Share A\nlead_in: 0.5s\ntail: 0.5s\ngap: 0.3s\nsteps:\n  - title: One\n    cues:\n"
            "      - Legs up.\n      - Breathe in.\n      - Rest now.\n")
SCRIPT_B = ("title: Share B\nlead_in: 0.5s\ntail: 0.5s\ngap: 0.3s\nsteps:\n  - title: One\n    cues:\n"
            "      - Rest now.\n      - Feet warm.\n      - Legs up.\n")


def pcm(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), w.readframes(w.getnframes())


def level_db(data: bytes) -> float:
    x = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
    return float(10 * np.log10(np.mean(x**2)))


def assert_alike(one: Path, other: Path) -> None:
    """The same session by what can be measured: length within 20 ms, level within 0.3 dB."""
    (rate, a), (rate_b, b) = pcm(one), pcm(other)
    assert rate == rate_b
    assert abs(len(a) - len(b)) // 2 <= rate * 20 // 1000, (len(a), len(b))
    assert abs(level_db(a) - level_db(b)) < 0.3


def assert_sound_cache(root: Path, entries: int) -> None:
    """One whole entry per text, and no temporary file left."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert not [p for p in files if p.name.startswith(".tmp-")]
    clips = [p for p in files if p.suffix == ".wav"]
    assert len(clips) == entries
    for path in clips:
        info = _probe(path)
        assert info is not None and read_clip(path) is not None


def legsup_export(script: str, out: Path, cache: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "legsup_audio", "export", script, "-o", str(out), "--format", "wav"],
                            cwd=cwd, env={**os.environ, "LEGSUP_CACHE_DIR": str(cache)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def warm_export(script: Path, cache: Path, out: Path) -> Path:
    """An export in this process (warm or cold, as ``cache`` is)."""
    from legsup_audio.output.export import export_session
    from legsup_audio.pipeline import build

    export_session(build(script, cache=ClipCache(cache)), out, fmt="wav", sidecars=False)
    return out


@pytest.mark.e2e
def test_concurrent_real_exports_sharing_one_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.yaml").write_text(SCRIPT_A, encoding="utf-8")
    (work / "b.yaml").write_text(SCRIPT_B, encoding="utf-8")
    out, shared = work / "out", tmp_path / "shared"
    out.mkdir()
    # Three cold exports at once on one empty cache: a pair with the same script (a, a) and a
    # pair with different scripts that share two texts (a, b).
    runs = {name: legsup_export(f"{name[0]}.yaml", out / f"{name}.wav", shared, work) for name in ("a1", "a2", "b1")}
    monkeypatch.chdir(work)  # the built-in espeak-ng voice, as the CLI runs use
    # Meanwhile, the lone exports, each with a clean cache of its own.
    lone_a = warm_export(work / "a.yaml", tmp_path / "lone-a", tmp_path / "lone-a.wav")
    lone_b = warm_export(work / "b.yaml", tmp_path / "lone-b", tmp_path / "lone-b.wav")
    for name, proc in runs.items():
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, (name, err)

    assert_sound_cache(shared, 4)  # the shared texts have one entry each
    # Exactly the track the shared entries make, for every process.
    again_a = warm_export(work / "a.yaml", shared, tmp_path / "again-a.wav")
    again_b = warm_export(work / "b.yaml", shared, tmp_path / "again-b.wav")
    assert pcm(out / "a1.wav") == pcm(again_a) == pcm(out / "a2.wav")
    assert pcm(out / "b1.wav") == pcm(again_b)
    # And the same sessions as the lone exports, by measurable properties.
    assert_alike(out / "a1.wav", lone_a)
    assert_alike(out / "a2.wav", lone_a)
    assert_alike(out / "b1.wav", lone_b)


def test_the_first_entry_written_wins_and_is_never_swapped(tmp_path: Path) -> None:
    from legsup_audio.speech.base import Clip

    cache = ClipCache(tmp_path)
    first = Clip(np.arange(1, 2001, dtype=np.int16), 44100)
    later = Clip(np.arange(1, 3001, dtype=np.int16), 44100)  # another process's take: a different length
    mine = cache.put("ab" * 32, first)
    theirs = cache.put("ab" * 32, later)
    assert theirs == mine  # the later writer is handed the entry already there
    assert mine.load().samples.tobytes() == first.samples.tobytes()
    # A broken entry is replaced in one step.
    mine.path.write_bytes(mine.path.read_bytes()[:100])
    assert cache.get("ab" * 32) is None
    fixed = cache.put("ab" * 32, later)
    assert fixed.frames == 3000 and cache.get("ab" * 32) == fixed
    assert [p.name for p in mine.path.parent.iterdir()] == [mine.path.name]  # no temporary file left


# --- damaged entries --------------------------------------------------------------------------------


def _flip_bit(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _zero_frames(path: Path) -> None:
    with wave.open(str(path), "wb") as w:  # a header and no audio, as a racing engine can leave
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)


DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "zero-frames": _zero_frames,
    "wrong-header": lambda p: _flip_bit(p, 22),  # the channel count: 1 becomes 17, same size
    "pcm-bit-flip": lambda p: _flip_bit(p, p.stat().st_size // 2),  # header and size still right
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_entry_is_made_again_never_mixed_in(fake_workdir: Path, tmp_path: Path, damage: str) -> None:
    from legsup_audio.output.export import export_session
    from legsup_audio.pipeline import build
    from legsup_audio.speech.speaker import Speaker
    from legsup_audio.speech.voices import get_profile

    script = fake_workdir / "a.yaml"
    script.write_text(SCRIPT_A, encoding="utf-8")
    reference = export_session(build(script, engine=FakeEngine(), cache=ClipCache(tmp_path / "clean")),
                               tmp_path / "clean.wav", fmt="wav", sidecars=False).path
    shared = ClipCache(tmp_path / "shared")
    build(script, engine=FakeEngine(), cache=shared)
    entry = shared.path_for(Speaker(FakeEngine(), get_profile("default").options, shared).key("Breathe in."))
    before = entry.read_bytes()
    DAMAGE[damage](entry)
    assert entry.read_bytes() != before

    engine = FakeEngine()
    session = build(script, engine=engine, cache=shared)
    spoken_at_build = list(engine.calls)
    track = export_session(session, tmp_path / "track.wav", fmt="wav", sidecars=False).path
    if damage in ("truncated", "zero-frames", "wrong-header"):
        assert spoken_at_build == ["Breathe in."]  # seen as missing when looked up
    else:
        assert spoken_at_build == [] and engine.calls == ["Breathe in."]  # caught by the checksum when loaded
    assert pcm(track) == pcm(reference)
    assert entry.read_bytes() == before  # whole again
    assert_sound_cache(shared.root, 3)


@pytest.mark.e2e
def test_damaged_entries_with_the_real_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_speech_hang import children

    from legsup_audio.output.export import export_session
    from legsup_audio.pipeline import build
    from legsup_audio.speech.piper_engine import PiperEngine
    from legsup_audio.speech.speaker import Speaker
    from legsup_audio.speech.voices import get_profile

    monkeypatch.chdir(tmp_path)
    script = tmp_path / "a.yaml"
    script.write_text(SCRIPT_A, encoding="utf-8")
    reference = export_session(build(script, cache=ClipCache(tmp_path / "clean")), tmp_path / "clean.wav",
                               fmt="wav", sidecars=False).path
    shared = ClipCache(tmp_path / "shared")
    build(script, cache=shared)
    local = PiperEngine()  # asked only for its id and version: it loads nothing
    speaker = Speaker(local, get_profile("default").options, shared)
    truncated, flipped = shared.path_for(speaker.key("Legs up.")), shared.path_for(speaker.key("Rest now."))
    DAMAGE["truncated"](truncated)
    DAMAGE["pcm-bit-flip"](flipped)

    session = build(script, cache=shared)  # the truncated entry is spoken again here
    assert read_clip(truncated) is not None and read_clip(flipped) is None
    track = export_session(session, tmp_path / "track.wav", fmt="wav", sidecars=False).path
    assert read_clip(flipped) is not None  # the flipped one was caught when loaded and spoken again
    assert_sound_cache(shared.root, 3)
    assert_alike(track, reference)
    local.close()
    del session
    gc.collect()  # the engine that repaired the clip stops its worker when it goes
    assert children(os.getpid()) == []
