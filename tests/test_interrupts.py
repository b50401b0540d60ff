"""SIGINT and SIGTERM at each stage of a real ``legsup export`` subprocess.

The export is paused at a known stage by the ``LEGSUP_PAUSE_AT`` hook (see
``legsup_audio.checkpoint``): it prints ``legsup-test: at <stage>`` and stops
itself; the test signals it (SIGINT to the whole process group, as a terminal's
Ctrl-C does, so ffmpeg gets it too; SIGTERM to the legsup process only, as
``kill`` does), continues it, and then checks what a stop must leave: exit status
130 or 143, one line saying what was stopped and what was left, each target
absent or byte for byte as it was, no temporary file in the output folder, the
``--to`` folder, the clip cache or ``$TMPDIR``, and no process of the export
(ffmpeg) still running.  The fake speech engine keeps most runs fast; two runs
use the real espeak-ng engine.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FAKE_VOICE = "engine: fake\nvoice: fake/en\nrate: 150\nvolume: 0.9\n"
ALPHA = ("title: Alpha\nlead_in: 0.5s\nsteps:\n  - title: One\n    duration: 20s\n    cues:\n"
         "      - Hello there.\n      - Breathe slowly.\n")
BETA = "title: Beta\nsteps:\n  - title: Two\n    duration: 15s\n    cues:\n      - Welcome back.\n"
OLD = b"an older export that must survive, byte for byte"
OLD_PLAYLIST = b"#EXTM3U\n#EXTINF:1,old\nold.mp3\n"
WAIT_S = 120  # generous: four workers share two cores


@dataclass
class Run:
    """A running ``legsup`` subprocess, its stderr collected by a thread."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, marker: str) -> None:
        """Until stderr shows ``marker`` and the process has stopped itself there."""
        deadline = time.monotonic() + WAIT_S
        while marker not in self.seen:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} within {WAIT_S}s; stderr so far: {self.seen}") from None
            assert line is not None, f"the export ended before {marker!r}: {self.seen}"
            self.seen.append(line)
        while process_state(self.proc.pid) != "T":  # the hook's SIGSTOP has landed
            assert time.monotonic() < deadline, "the export printed the marker but never stopped"
            time.sleep(0.01)

    def finish(self) -> list[str]:
        """Wait for the exit; every stderr line (without the hook's marker)."""
        self.proc.wait(timeout=WAIT_S)
        while (line := self.lines.get(timeout=WAIT_S)) is not None:
            self.seen.append(line)
        return [line for line in self.seen if line.strip() and not line.startswith("legsup-test: at")]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def process_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def group_members(pgid: int) -> list[str]:
    """The command names of live processes in process group ``pgid``."""
    names = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            names.append(stat[stat.index("(") + 1:stat.rindex(")")])
    return names


def start(args: list[str], cwd: Path, env: dict[str, str], pause_at: str | None = None,
          **popen: object) -> Run:
    full = {**env, "LEGSUP_PAUSE_AT": pause_at} if pause_at else dict(env)
    # Its own session and process group: like a shell job, and signalable as a group.
    proc = subprocess.Popen([sys.executable, "-m", "legsup_audio", *args], cwd=cwd, env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            **popen)  # type: ignore[call-overload]
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # type: ignore[union-attr]
    return Run(proc)


def stop(run: Run, sig: signal.Signals) -> None:
    """Signal the paused export the way a user would, then let it run on."""
    if sig == signal.SIGINT:
        os.killpg(run.proc.pid, sig)  # Ctrl-C in a terminal reaches ffmpeg as well
    else:
        os.kill(run.proc.pid, sig)
    os.kill(run.proc.pid, signal.SIGCONT)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files: hidden ``.name.…part…`` files, cache ``.tmp-`` files, anything in a temp dir."""
    found = []
    for folder in folders:
        if folder.exists():
            found += [p for p in folder.rglob("*") if p.name.startswith(".") or ".part" in p.name]
    return found


def make_work(root: Path, cache: Path, tmpdir: Path) -> dict:
    """A folder with the two scripts and the fake voice; clips cached in ``cache``, temp files in ``tmpdir``."""
    (root / "voices").mkdir(parents=True)
    (root / "voices" / "default.yaml").write_text(FAKE_VOICE, encoding="utf-8")
    (root / "a.yaml").write_text(ALPHA, encoding="utf-8")
    (root / "b.yaml").write_text(BETA, encoding="utf-8")
    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(cache), "TMPDIR": str(tmpdir)}
    env.pop("LEGSUP_PAUSE_AT", None)
    return {"root": root, "env": env, "tmp": tmpdir, "cache": cache}


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip cache holding both scripts' clips, so most runs start rendering at once."""
    base = tmp_path_factory.mktemp("warm")
    warm = make_work(base / "work", base / "cache", base / "tmp")
    subprocess.run([sys.executable, "-m", "legsup_audio", "validate", "a.yaml", "b.yaml"], cwd=warm["root"],
                   env=warm["env"], check=True, capture_output=True, timeout=WAIT_S)
    return base / "cache"


@pytest.fixture
def work(tmp_path: Path, warm_cache: Path) -> dict:
    shutil.copytree(warm_cache, tmp_path / "cache")
    return make_work(tmp_path / "work", tmp_path / "cache", tmp_path / "tmp")


@dataclass(frozen=True)
class Case:
    pause_at: str
    doing: str  # what the stop line says was going on
    args: tuple[str, ...]
    target: str  # the file being written when stopped (relative to the work folder)
    finished: tuple[str, ...] = ()  # files complete before the stop, which must stay
    extra: str = ""  # more the stop line must say
    named: bool = True  # the stop line names the target (it is known at that stage)


SINGLE = ("export", "a.yaml", "-o", "out/a.mp3")
BATCH = ("export", "a.yaml", "b.yaml", "-o", "batch")
FIRST = ("batch/01 - Alpha.mp3", "batch/01 - Alpha.lrc", "batch/01 - Alpha.vtt")
CASES = {
    "synthesis": Case("synthesis", "while speaking", SINGLE, "out/a.mp3", extra="; nothing written"),
    "rendering": Case("rendering", "while rendering", SINGLE, "out/a.mp3"),
    "encoding": Case("encoding", "while encoding", SINGLE, "out/a.mp3"),
    "tagging": Case("tagging", "while tagging", SINGLE, "out/a.mp3"),
    "sidecars": Case("sidecars", "while writing captions", SINGLE, "out/a.mp3"),
    "copying": Case("copying", "while copying to phone", (*SINGLE, "--to", "phone"), "phone/a.mp3",
                    finished=("out/a.mp3", "out/a.lrc", "out/a.vtt"), extra="; out/a.mp3 finished; copied 0 of 3"),
    "batch, between tracks": Case("finished:1", "after track 1 of 2 (a.yaml)", BATCH,
                                  "batch/02 - Beta.mp3", finished=FIRST, named=False),
    "batch, encoding track 2": Case("encoding:2", "while encoding track 2 of 2 (b.yaml)", BATCH,
                                    "batch/02 - Beta.mp3", finished=FIRST),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_stop_at_any_stage_leaves_the_targets_as_they_were(work: dict, name: str, sig: signal.Signals) -> None:
    case, root = CASES[name], work["root"]
    if case.pause_at == "synthesis":
        shutil.rmtree(work["cache"])  # a cold cache: the engine really speaks
    batch = case.args == BATCH
    # Half the runs find an older file at the target: it must survive byte for byte.
    existed = (list(CASES).index(name) + (sig == signal.SIGTERM)) % 2 == 0
    target = root / case.target
    if existed:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(OLD)
        if batch:
            (root / "batch" / "playlist.m3u8").write_bytes(OLD_PLAYLIST)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and p.parent.name in ("out", "batch", "phone")}
    run = start(list(case.args), root, work["env"], case.pause_at)
    try:
        run.wait_for(f"legsup-test: at {case.pause_at.split(':')[0]}")
        if case.pause_at == "synthesis":  # the engine is speaking in its worker, with a scratch folder in $TMPDIR
            assert [p.name for p in work["tmp"].iterdir() if p.name.startswith("legsup-")]
        if case.pause_at == "encoding":  # mid-stream: ffmpeg runs and our temporary file exists
            assert "ffmpeg" in group_members(run.proc.pid)
            assert [p.name for p in target.parent.iterdir() if p.name.startswith(".a.") and ".part" in p.name]
        if case.pause_at == "copying":  # mid-copy: the temporary file is in the --to folder
            assert [p.name for p in (root / "phone").iterdir() if ".part" in p.name]
        stop(run, sig)
        lines = run.finish()
    finally:
        run.kill()

    assert run.proc.returncode == (130 if sig == signal.SIGINT else 143), lines
    assert len(lines) == 1, lines  # one line, no traceback
    head = "legsup: stopped" if sig == signal.SIGINT else "legsup: stopped (terminated)"
    left = "left as it was" if existed else "not written"
    expected = f"{head} {case.doing}{case.extra}"
    if case.named and name != "synthesis":
        expected_target = f"{case.target} {left}"
        assert expected_target in lines[0], lines[0]
    assert lines[0].startswith(expected), lines[0]
    if batch:
        assert "kept 1 finished track(s) in batch: 01 - Alpha.mp3" in lines[0] and "no playlist written" in lines[0]

    # The target and everything that was there before: exactly as they were.
    if existed:
        assert target.read_bytes() == OLD
    else:
        assert not target.exists()
    for path, content in before.items():
        assert path.read_bytes() == content, path
    # Finished files stay; nothing else of this export appears.
    expected_files = set(before) | {root / f for f in case.finished}
    produced = {p for p in root.rglob("*") if p.is_file() and p.parent.name in ("out", "batch", "phone")}
    assert produced == expected_files, sorted(map(str, produced ^ expected_files))
    assert not leftovers(root, work["cache"], work["tmp"]), leftovers(root, work["cache"], work["tmp"])
    assert names(work["tmp"]) == []  # no legsup-* folders (or anything else) in $TMPDIR
    assert group_members(run.proc.pid) == []  # no orphaned ffmpeg


@pytest.mark.e2e
def test_ctrl_c_with_the_real_speech_engine_and_ffmpeg(work: dict) -> None:
    stage, root = "encoding", work["root"]
    (root / "voices" / "default.yaml").unlink()  # the built-in default voice: espeak-ng
    (root / "out").mkdir()
    (root / "out" / "a.mp3").write_bytes(OLD)
    run = start(list(SINGLE), root, work["env"], stage)
    try:
        run.wait_for(f"legsup-test: at {stage}")  # espeak-ng has spoken every cue; ffmpeg is encoding
        assert "ffmpeg" in group_members(run.proc.pid)
        stop(run, signal.SIGINT)
        lines = run.finish()
    finally:
        run.kill()
    assert run.proc.returncode == 130
    assert lines == ["legsup: stopped while encoding; out/a.mp3 left as it was"]
    assert (root / "out" / "a.mp3").read_bytes() == OLD
    assert names(root / "out") == ["a.mp3"]
    assert names(work["tmp"]) == []
    assert not leftovers(work["cache"])
    assert group_members(run.proc.pid) == []


def test_a_signal_during_a_commit_waits_until_the_commit_is_done() -> None:
    from legsup_audio.checkpoint import signals_held

    steps = []
    with pytest.raises(KeyboardInterrupt), signals_held():
        steps.append("first rename")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # a signal delivered now would interrupt here
        steps.append("last rename")
    assert steps == ["first rename", "last rename"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back
