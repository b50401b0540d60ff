"""Running a pure computation in a forked child, on the machine's other core.

Owns one thing: ``Forked(fn)`` starts ``fn()`` in a child made with ``fork`` (it
shares the parent's memory as it was, so nothing is pickled on the way in), and
``result()`` collects what it returned, pickled through a pipe.  Python threads
cannot share numpy-heavy work here (the GIL), and the master's look at the
loud steps happens before encoding starts, while the second core is nearly idle
(an export may be drawing its cover in a thread meanwhile: the child inherits
no threads, and only runs numpy on data it already has).

The child never runs any of the parent's cleanup: whatever happens it leaves
with ``os._exit``, so temporary files, progress displays and ``finally`` blocks
up the stack stay the parent's alone.  Anything that goes wrong in the child
(an exception, a signal, a hang past the deadline) makes ``result()`` return
None, and the caller does that share of the work itself: forking is a speed-up,
never a way to fail.  ``cancel()`` kills and reaps the child; the parent calls it
on every path out (``with Forked(...) as job``), so no process is left behind.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any


def available() -> bool:
    """Forking helps only with a second core to run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return hasattr(os, "fork") and cores > 1


class Forked:
    def __init__(self, fn: Callable[[], Any]) -> None:
        """Start ``fn()`` in a child; raises OSError when no process or pipe can be made."""
        read, write = os.pipe()
        # Signals are held across the fork, so none can reach the child before it has
        # set itself up (a handler there would unwind the parent's stack copy).
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the child
            status = 1
            try:
                os.close(read)
                # A terminal's Ctrl-C reaches the whole process group: the parent handles it
                # (and kills this child).  SIGTERM ends the child at once, without unwinding.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(data)
                while view:
                    view = view[os.write(write, view) :]
                status = 0
            except BaseException:  # noqa: BLE001, S110 - reported as a missing result
                pass
            finally:
                os._exit(status)
        os.close(write)
        self.pid: int | None = pid
        self._read = read
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a signal held meanwhile arrives now
        except BaseException:
            self.cancel()
            raise

    def result(self, timeout: float) -> Any | None:
        """What ``fn`` returned, or None if the child failed or took longer than ``timeout`` s."""
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._read], [], [], left)[0]:
                    return None
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            assert self.pid is not None
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
            if status != 0:
                return None
            return pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's data
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Kill and reap the child if it is still there; close the pipe."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None
        if self._read >= 0:
            os.close(self._read)
            self._read = -1

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()
