"""The speech worker: a child process that runs one speech engine for its parent.

Owns the child side of the supervised engine (``supervised``) and the message
framing both sides share.  Started as ``python -m legsup_audio.speech.worker
MODULE:CLASS PARENT_PID``, it builds the engine, lists its voices (so a slow or
wedged engine start shows before the first clip), answers ``ready``, and then
serves one request at a time until its input closes: a text to speak, or a
task to run with the engine (``SpeechEngine.run``).  It must not decide
anything about timeouts or retries: the parent times every request and kills
this process when it stops answering, which is the only way to stop a call
that is stuck inside the engine's C library.

Requests and replies are pickled tuples, each framed by a 4-byte big-endian
length, on the worker's original stdin and stdout.  Stdout is moved aside at
start so nothing the engine prints can corrupt a reply.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys
import traceback
from typing import Any

_HEADER = struct.Struct(">I")


# -- framing (used by both sides) ------------------------------------------------------------
def send(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, n: int) -> bytes | None:
    """``n`` bytes from ``fd`` (blocking), or None at end of file."""
    parts: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def receive(fd: int) -> Any:
    """The next message on ``fd``, or None at end of file (blocking)."""
    header = read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


# -- child side -------------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this worker when its parent dies, even mid-call in C code."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - not Linux after all
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def _error_reply(exc: BaseException) -> tuple[str, str, str]:
    from legsup_audio.errors import LegsupError

    if isinstance(exc, LegsupError):
        return ("error", type(exc).__name__, str(exc))
    return ("bug", type(exc).__name__, "".join(traceback.format_exception(exc)))


def main(argv: list[str]) -> int:
    spec, parent_pid = argv[0], int(argv[1])
    # Ctrl-C reaches the whole process group; the parent decides what to do and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # whatever the engine prints goes to the worker's stderr, not into a reply
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    try:
        module, _, name = spec.partition(":")
        engine = getattr(importlib.import_module(module), name)()
        voices = engine.voices()
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
        send(replies, _error_reply(exc))
        return 1
    send(replies, ("ready", voices))
    try:
        while (request := receive(requests)) is not None:
            kind, *args = request
            try:
                if kind in ("synthesize", "run"):
                    clip = engine.synthesize(*args) if kind == "synthesize" else engine.run(*args)
                    reply: tuple[Any, ...] = ("ok", clip.samples.astype("<i2").tobytes(), clip.rate)
                else:
                    reply = ("bug", "ValueError", f"unknown request {kind!r}")
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
                reply = _error_reply(exc)
            send(replies, reply)
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
