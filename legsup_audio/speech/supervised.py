"""A speech engine run in a supervised worker process, so a hung call can be stopped.

Owns the parent side of running any ``SpeechEngine`` out of process: starting
the worker (``python -m legsup_audio.speech.worker``) on the first clip that
is not cached, timing every request, killing and reaping a worker that does
not answer in time or dies, starting a fresh one and retrying, and finally
raising ``EngineStuck`` (a ``ClipFailed``) that the speak stage pins to the
cue's script line.  A call stuck inside a C library (espeak-ng) cannot be
interrupted in-process; a process can always be killed.

A request is a clip to speak, or a task (``SpeechEngine.run``: speaking plus the
speak stage's work on the clip) to run next to the engine.  One worker serves
every clip of a process and is reused; it is started only
when a clip must really be synthesised, so a warm cache never starts one.  It
never outlives its parent: ``close()`` stops it, a finaliser does at exit, and
the worker asks Linux to kill it if the parent dies.  No threads are used:
replies are awaited with ``select`` on the worker's stdout.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import IO, Any

import numpy as np

from legsup_audio.errors import LegsupError, SetupError, SpeechError, UsageError
from legsup_audio.speech import worker as protocol
from legsup_audio.speech.base import (
    Clip,
    ClipFailed,
    SpeechEngine,
    SpeechOptions,
    Task,
    VoiceInfo,
)

#: How long one clip may take: CLIP_TIMEOUT_S plus CLIP_TIMEOUT_PER_CHAR_S per character.
#: espeak-ng speaks a clip in about 10 ms and starts in about 0.3 s, so this only
#: ever trips on a hang.  ``LEGSUP_SPEECH_TIMEOUT=SECONDS`` replaces CLIP_TIMEOUT_S.
CLIP_TIMEOUT_S = 10.0
CLIP_TIMEOUT_PER_CHAR_S = 0.02
TIMEOUT_ENV = "LEGSUP_SPEECH_TIMEOUT"
#: How long a fresh worker may take to import and start its engine.
START_TIMEOUT_S = 30.0
#: How many times one clip is tried, each time in a fresh worker after a hang or crash.
TRIES = 3
#: How long a worker asked to stop may take before it is killed.
STOP_GRACE_S = 2.0


class EngineStuck(ClipFailed):
    """The speech engine hung or died on one text, every time it was tried."""


class _WorkerLost(Exception):
    """The worker did not answer in time or exited; it must be killed and replaced."""


def clip_timeout(text: str, per_char: float = CLIP_TIMEOUT_PER_CHAR_S) -> float:
    """How long the engine may take to speak ``text``, in seconds (``per_char``: the engine's own pace)."""
    base = CLIP_TIMEOUT_S
    if raw := os.environ.get(TIMEOUT_ENV):
        try:
            base = float(raw)
        except ValueError:
            base = -1.0
        if not base > 0:
            raise UsageError(f"{TIMEOUT_ENV} must be a number of seconds above 0, not {raw!r}")
    return base + per_char * len(text)


class SupervisedEngine(SpeechEngine):
    """Runs ``engine_class`` (built with no arguments) in a worker process."""

    def __init__(self, engine_class: type[SpeechEngine]) -> None:
        self.engine_class = engine_class
        self.id = engine_class.id
        self._spec = f"{engine_class.__module__}:{engine_class.__qualname__}"
        self._local: SpeechEngine | None = None  # in-process, for version() only: it needs no engine start
        self._worker: _Worker | None = None
        self._voices: list[VoiceInfo] | None = None
        self._aborted = False
        #: Workers started so far (read by tests and benchmarks).
        self.starts = 0

    def version(self) -> str:
        if self._local is None:
            self._local = self.engine_class()
        return self._local.version()

    def voices(self) -> list[VoiceInfo]:
        if self._voices is None:
            self._voices = self._ensure_worker().voices
        return self._voices

    def synthesize(self, text: str, options: SpeechOptions) -> Clip:
        return self._clip(("synthesize", text, options), text)

    def run(self, task: Task, text: str, options: SpeechOptions) -> Clip:
        """``task`` in the worker (see ``SpeechEngine.run``), timed and retried like a clip."""
        return self._clip(("run", task, text, options), text)

    def _clip(self, request: tuple[Any, ...], text: str) -> Clip:
        """The clip a request for ``text`` gives, from a worker that is killed and replaced if it hangs."""
        timeout = clip_timeout(text, getattr(self.engine_class, "seconds_per_char", CLIP_TIMEOUT_PER_CHAR_S))
        if self._worker is None or not self._worker.spoken:
            timeout += getattr(self.engine_class, "load_seconds", 0.0)  # a voice model loads on its first clip
        reasons: list[str] = []
        for _ in range(TRIES):
            try:
                reply = self._ensure_worker().request(request, timeout)
            except _WorkerLost as lost:
                self._stop_worker(kill=True)
                reasons.append(str(lost))
                continue
            if reply[0] == "ok":
                self._worker.spoken = True  # type: ignore[union-attr]
                return Clip(np.frombuffer(reply[1], dtype="<i2").copy(), int(reply[2]))
            raise _reraise(reply)
        raise EngineStuck(_stuck_message(text, timeout, reasons))

    def close(self) -> None:
        self._stop_worker(kill=False)
        if self._local is not None:
            self._local.close()
            self._local = None

    def abort(self) -> None:
        """Stop speaking now, from any thread: the worker is killed and no other is started.

        The thread in ``synthesize`` sees the worker gone and raises ``SpeechError``; it
        (not this one) reaps the worker, so no pipe is closed under it.  ``close`` still
        cleans up afterwards.
        """
        self._aborted = True
        worker = self._worker
        if worker is not None:
            with contextlib.suppress(OSError):
                worker.proc.kill()

    # -- the worker ------------------------------------------------------------------------
    def _ensure_worker(self) -> _Worker:
        """The running worker, started (and retried like a clip) if there is none."""
        reasons: list[str] = []
        while self._worker is None:
            if self._aborted:
                raise SpeechError("speaking was stopped")
            self.starts += 1
            worker = _Worker(self._spec)
            try:
                reply = worker.request(None, START_TIMEOUT_S)
            except _WorkerLost as lost:
                worker.stop(kill=True)
                reasons.append(str(lost))
                if len(reasons) >= TRIES:
                    raise SpeechError(f"the speech engine would not start ({'; '.join(reasons)}); "
                                      f"check it with `legsup voices`, or run `tools/setup.sh`") from None
                continue
            if reply[0] != "ready":
                worker.stop(kill=True)
                raise _reraise(reply)
            worker.voices = reply[1]
            self._worker = worker
        return self._worker

    def _stop_worker(self, kill: bool) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(kill=kill)


class _Worker:
    """One worker process, its pipes, its stderr (kept for messages) and its scratch folder."""

    def __init__(self, spec: str) -> None:
        self.voices: list[VoiceInfo] = []
        self.spoken = False  # whether a clip was spoken yet (the first may load a voice model)
        # The worker's temporary files (the engine's WAVs) go here, so killing it leaks none.
        self.scratch = Path(tempfile.mkdtemp(prefix="legsup-speech-"))
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _shutdown
        package_root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "TMPDIR": str(self.scratch),
            "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
        }
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "legsup_audio.speech.worker", spec, str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
            )
        except OSError as exc:
            _shutdown(None, self.scratch, self.stderr, kill=True)
            raise SetupError(f"could not start the speech worker ({exc})") from None
        self._finalizer = weakref.finalize(self, _shutdown, self.proc, self.scratch, self.stderr, False)
        self._buffer = bytearray()

    def request(self, message: Any, timeout: float) -> Any:
        """Send ``message`` (None: just await the next reply) and return the reply."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if message is not None:
            try:
                protocol.send(self.proc.stdin.fileno(), message)
            except OSError as exc:  # BrokenPipeError: it died between requests
                raise _WorkerLost(self._exit_reason(f"could not be reached ({exc.strerror})")) from None
        deadline = time.monotonic() + timeout
        out = self.proc.stdout.fileno()
        while True:
            if len(self._buffer) >= 4:
                size = int.from_bytes(self._buffer[:4], "big")
                if len(self._buffer) >= 4 + size:
                    body = bytes(self._buffer[4 : 4 + size])
                    del self._buffer[: 4 + size]
                    return pickle.loads(body)
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerLost(f"no answer within {timeout:.1f} s")
            ready, _, _ = select.select([out], [], [], left)
            if ready:
                chunk = os.read(out, 1 << 20)
                if not chunk:
                    raise _WorkerLost(self._exit_reason("exited"))
                self._buffer += chunk

    def _exit_reason(self, what: str) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=STOP_GRACE_S)
        status = self.proc.returncode
        self.stderr.seek(0)
        last = [line for line in self.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        detail = f": {last[-1].strip()[:200]}" if last else ""
        return f"the engine {what}" + (f" with status {status}" if status is not None else "") + detail

    def stop(self, kill: bool) -> None:
        if kill:
            with contextlib.suppress(OSError):
                self.proc.kill()
        self._finalizer()


def _shutdown(proc: subprocess.Popen[bytes] | None, scratch: Path, stderr: IO[bytes], kill: bool) -> None:
    """Stop and reap a worker (politely unless ``kill``) and remove what it leaves behind."""
    if proc is not None:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # end of input: an idle worker closes its engine and exits
        if kill:
            with contextlib.suppress(OSError):
                proc.kill()
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)  # only a process stuck in the kernel outlives SIGKILL this long
        if proc.stdout is not None:
            proc.stdout.close()
    stderr.close()
    shutil.rmtree(scratch, ignore_errors=True)


def _reraise(reply: tuple[Any, ...]) -> Exception:
    """The exception a worker's error reply stands for."""
    kind, name, message = reply
    if kind == "error":
        known: dict[str, type[LegsupError]] = {
            c.__name__: c for c in (LegsupError, SetupError, SpeechError, ClipFailed, EngineStuck)
        }
        return known.get(name, SpeechError)(message)
    return RuntimeError(f"the speech worker failed ({name}):\n{message}")


def _stuck_message(text: str, timeout: float, reasons: list[str]) -> str:
    short = text if len(text) <= 60 else text[:57] + "..."
    if all(r.startswith("no answer") for r in reasons):
        what = f"hung on {short!r} (no answer within {timeout:.1f} s, {len(reasons)} tries)"
    else:
        what = f"failed on {short!r} {len(reasons)} times ({'; '.join(dict.fromkeys(reasons))})"
    return (f"the speech engine {what}; run the command again, and if it keeps happening "
            f"allow more time with {TIMEOUT_ENV}=SECONDS or check the engine with `legsup voices`")
