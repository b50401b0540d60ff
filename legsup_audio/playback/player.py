"""The player seam: getting final PCM samples to a sound device, with pause and seek.

This module owns the ``Player`` protocol and its implementations: ``SimpleaudioPlayer``
(the real sound card through simpleaudio/ALSA) and ``MemoryPlayer`` (records what it
would play, for tests).  A player knows frames, never milliseconds, steps or cues; it
does not render, mix or master anything: what it is given by a ``PcmSource`` is what
reaches the device, sample for sample.  Uninterrupted playback is one device buffer
over the whole rest of the session; pause stops the device and remembers the frame,
resume and seek start a new buffer at that frame (a zero-copy slice of one contiguous
int16 array that is read from the source once).

That array is filled in the background (``Prefetch``), from the frame being played
onwards: the device starts as soon as the first ``LEAD_FRAMES`` are in, because a
sound card takes the samples in real time while the renderer makes them hundreds of
times faster.  Should the reader ever fall behind (a starved machine), the player
stops the device a moment before the unfilled part and starts again there once it is
filled: a pause, never wrong samples.

A source still being made (``legsup play`` while the voice speaks the rest) may not
know its length yet: its ``total`` is then an allowance, and becomes exact later.  The
player checks it as it plays: a shorter session ends where it ends (the allowance past
it is silence, and the device is stopped once the end has been heard); a longer one
grows the array and starts the device again where the old buffer ran out.  Such a
source offers ``exact`` (its length is known) and ``wait_until(frame, timeout)`` (frames
up to there are final): the reader never blocks in ``read`` longer than a moment, so it
can be closed at once, and the device starts once the whole lead is final but only a few
seconds of it are read (speech is the slow part, not rendering).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from legsup_audio.errors import PlaybackError
from legsup_audio.render.mix import PcmSource
from legsup_audio.units import SAMPLE_RATE

#: Frames read per ``read`` call by the background prefetch: one second, so a seek
#: waits for the block it lands in rather than for a long one.
PREFETCH_BLOCK_FRAMES = SAMPLE_RATE
#: Frames that must be read before the device starts at a frame: 30 s, read in a
#: tenth of a second, leave the reader a wide margin on a busy machine (and a
#: session shorter than that is read whole before it starts).
LEAD_FRAMES = 30 * SAMPLE_RATE
#: For a source still being spoken: the device starts once this much from the start frame
#: is final (spoken), not the whole lead.  Two workers speak about 16 s of voice per second
#: (measured on the bundled voice, two cores), so by the time these 10 s have been heard the
#: voice is minutes ahead; should it ever fall behind, the player pauses (``GUARD_FRAMES``).
SPOKEN_LEAD_FRAMES = 10 * SAMPLE_RATE
#: For a source still being spoken: once its lead is final, the device starts after this
#: much is read (rendering the rest takes a moment while it plays).
SPOKEN_READ_FRAMES = 5 * SAMPLE_RATE
#: While playing, this much ahead of the device must be read, or it is stopped and
#: restarted at the same frame once it is (a starved machine: a pause, not noise).
GUARD_FRAMES = SAMPLE_RATE // 2

#: A device given more than the session (an allowance, while the length was unknown) is
#: stopped this long after the session's end is due, so its last samples are heard.
DRAIN_FRAMES = SAMPLE_RATE // 4

#: The message shown when no sound device can be opened; ``{reason}`` is the cause.
NO_DEVICE_MESSAGE = (
    "no sound device could be opened ({reason}); use `legsup export` to make a file instead"
)

Clock = Callable[[], float]


class Player(Protocol):
    """What the session driver needs from a sound output; positions are frames."""

    def play(self, source: PcmSource, start_frame: int = 0) -> None:
        """Start playing ``source`` from ``start_frame`` (loads the source if new)."""
        ...

    def pause(self) -> None:
        """Stop the sound and remember the frame it reached."""
        ...

    def resume(self) -> None:
        """Continue from exactly the frame where ``pause`` stopped."""
        ...

    def seek(self, frame: int) -> None:
        """Move to ``frame``; keeps playing if playing, stays paused if paused."""
        ...

    def stop(self) -> None:
        """Silence at once; the player can be given a new ``play`` afterwards."""
        ...

    def position(self) -> int:
        """The frame being heard now, clamped to ``[0, total]``."""
        ...

    def is_playing(self) -> bool:
        """Sound is (meant to be) coming out: started, not paused, stopped or finished."""
        ...

    def finished(self) -> bool:
        """The audio has played to its end."""
        ...


class Prefetch:
    """A source's whole audio in one int16 array, read by a background thread.

    The thread reads blocks in order from the frame asked for last (``want``),
    then goes back for any it skipped; ``wait`` blocks until a range is read.
    The array never moves, so a device may play from it while it fills.
    """

    def __init__(self, source: PcmSource, block: int = PREFETCH_BLOCK_FRAMES) -> None:
        self.total, self.channels = int(source.total), int(source.channels)
        self.pcm = np.zeros((self.total, self.channels), dtype=np.int16)
        self._source = source
        self._block = block
        self._done = np.zeros(-(-self.total // block), dtype=bool)
        self._cursor = 0
        self._error: BaseException | None = None
        self._closed = False
        self._filling = True
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._fill, name="legsup-prefetch", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        until = getattr(self._source, "wait_until", None)  # a source still being made
        while True:
            with self._lock:
                todo = np.flatnonzero(~self._done)
                if self._closed or todo.size == 0:
                    self._filling = False
                    return
                later = todo[todo >= self._cursor]
                b = int(later[0] if later.size else todo[0])
                self._cursor = b + 1
                start = b * self._block
                n = min(self._block, self.total - start)
            try:
                while until is not None and not until(start + n, 0.1):
                    with self._lock:
                        if self._closed:
                            self._filling = False
                            return
                chunk = np.asarray(self._source.read(start, n))
                if chunk.dtype != np.int16:
                    raise PlaybackError(f"the audio source gave {chunk.dtype} samples, not int16")
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
                with self._lock:
                    self._error = exc
                    self._filling = False
                    self._lock.notify_all()
                return
            with self._lock:
                self.pcm[start : start + n] = chunk.reshape(n, self.channels)
                if n == min(self._block, self.total - start):  # else the array grew meanwhile: read it again
                    self._done[b] = True
                self._lock.notify_all()

    def grow(self, total: int) -> None:
        """Make room for ``total`` frames (a source longer than its allowance): a new array, the
        frames read so far copied; a device still playing the old one keeps it alive."""
        with self._lock:
            if total <= self.total:
                return
            pcm = np.zeros((total, self.channels), dtype=np.int16)
            pcm[: self.total] = self.pcm
            done = np.zeros(-(-total // self._block), dtype=bool)
            done[: self.total // self._block] = self._done[: self.total // self._block]  # a partial last block is read again
            self.pcm, self._done, self.total = pcm, done, total
            if not self._filling and not self._closed and self._error is None:
                self._filling = True
                self._thread = threading.Thread(target=self._fill, name="legsup-prefetch", daemon=True)
                self._thread.start()

    def want(self, frame: int) -> None:
        """Read from ``frame`` on next (after a seek)."""
        with self._lock:
            self._cursor = max(0, min(int(frame), self.total)) // self._block

    def ready(self, start: int, n: int) -> bool:
        """Frames [start, start + n) (clipped to the end) are read."""
        a, b = max(0, start) // self._block, -(-min(self.total, start + n) // self._block)
        with self._lock:
            self._raise()
            return bool(self._done[a:b].all())

    def wait(self, start: int, n: int) -> None:
        """Block until frames [start, start + n) are read (or the reader failed)."""
        a, b = max(0, start) // self._block, -(-min(self.total, start + n) // self._block)
        with self._lock:
            while not self._done[a:b].all():
                self._raise()
                if self._closed:
                    raise PlaybackError("the session's audio is no longer being read (the player was closed)")
                self._lock.wait(0.1)
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._thread.join(timeout=5)


class _ClockedPlayer:
    """Shared state machine: a device plays from ``_base`` since ``_t0`` on ``_clock``."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else time.monotonic
        self._source: PcmSource | None = None
        self._prefetch: Prefetch | None = None
        self._pcm: np.ndarray | None = None
        self._bytes: memoryview | None = None
        self._rate = SAMPLE_RATE
        self._channels = 1
        self._total = 0
        self._base = 0  # the frame the current (or last) device buffer started at
        self._t0 = 0.0  # clock time when it started
        self._held: int | None = None  # frame held while paused or stopped
        self._running = False  # a device buffer was started and not stopped since
        self._paused = False
        self._buffer_end = 0  # where the current device buffer ends (the array's length when it started)

    # --- what subclasses provide -------------------------------------------------
    def _lead(self, frame: int) -> int:
        """How many frames from ``frame`` must be read before the device may start."""
        return LEAD_FRAMES

    def _read_lead(self, frame: int) -> int:
        """Frames to read before the device starts at ``frame``: the lead; for a source still
        being made, only ``SPOKEN_READ_FRAMES`` once the whole lead is final (spoken), since
        the renderer makes the rest far faster than it is heard, and speech is the slow part."""
        lead = self._lead(frame)
        until = getattr(self._source, "wait_until", None)
        if until is None or getattr(self._source, "exact", True):
            return lead
        while not until(min(self._total, frame + min(lead, SPOKEN_LEAD_FRAMES)), 0.1):  # short waits: Ctrl-C is seen
            pass
        return min(lead, SPOKEN_READ_FRAMES)

    def _start_device(self, frame: int) -> None:
        raise NotImplementedError

    def _stop_device(self) -> None:
        raise NotImplementedError

    def _device_busy(self) -> bool:
        raise NotImplementedError

    # --- the Player protocol ------------------------------------------------------
    @property
    def rate(self) -> int:
        return self._rate

    @property
    def total(self) -> int:
        return self._total

    def play(self, source: PcmSource, start_frame: int = 0) -> None:
        self.stop()
        if source is not self._source:
            if self._prefetch is not None:
                self._prefetch.close()
            self._prefetch = Prefetch(source)
            self._pcm = self._prefetch.pcm
            self._bytes = self._pcm.data.cast("B")
            self._source = source
            self._rate, self._channels = int(source.rate), int(source.channels)
            self._total = int(source.total)
        self._paused = False
        self._begin(self._clamp(start_frame))

    def pause(self) -> None:
        if not self._running or self._paused:
            return
        frame = self._heard()
        self._halt()
        self._held = frame
        self._paused = True

    def resume(self) -> None:
        if not self._paused or self._held is None:
            return
        self._paused = False
        self._begin(self._held)

    def seek(self, frame: int) -> None:
        frame = self._clamp(frame)
        if self._paused:
            self._held = frame
        elif self._running:
            self._halt()
            self._begin(frame)
        else:
            self._held = frame

    def stop(self) -> None:
        if self._running:
            frame = self._heard()  # never waits for the reader: stopping is always at once
            self._halt()
            self._held = frame
        self._paused = False

    def position(self) -> int:
        if self._running:
            self._follow_total()
            frame = self._heard()
            if self._prefetch is not None and frame < self._total:
                try:
                    ready = self._prefetch.ready(frame, GUARD_FRAMES)
                except BaseException:
                    self._halt()  # the reader failed: silence first, then the error
                    raise
                if self._buffer_end < min(self._total, frame + GUARD_FRAMES):
                    ready = False  # the device's buffer ends before the session (it grew): start a longer one
                if not ready:
                    self._halt()  # the reader fell behind: wait for it rather than play unread silence
                    self._begin(frame)
                    frame = self._heard()
            return frame
        return self._held if self._held is not None else 0

    def _heard(self) -> int:
        """The frame the clock says is being heard (no look at the reader)."""
        return self._clamp(self._clocked())

    def _clocked(self) -> int:
        elapsed = max(0.0, self._clock() - self._t0)
        return self._base + int(elapsed * self._rate)

    def _follow_total(self) -> None:
        """Take up a source's length once it is exact (it was an allowance while it was being made)."""
        if self._source is None or self._prefetch is None:
            return
        total = int(self._source.total)
        if total == self._total:
            return
        if total > self._prefetch.total:
            self._prefetch.grow(total)
            self._pcm = self._prefetch.pcm
            self._bytes = self._pcm.data.cast("B")
        self._total = total

    def close(self) -> None:
        """Stop, and stop reading the source; a later ``play`` starts reading afresh."""
        self.stop()
        if self._prefetch is not None:
            self._prefetch.close()
        self._prefetch = None
        self._source = None

    def is_playing(self) -> bool:
        return self._running and not self.finished()

    def finished(self) -> bool:
        """True once the clock has reached the end and the device has let go of it (or has
        only the silence of an allowance left, a moment after the end)."""
        if not self._running or self.position() < self._total:
            return False
        if not self._device_busy():
            return True
        return self._buffer_end > self._total and self._clocked() >= self._total + DRAIN_FRAMES

    def is_paused(self) -> bool:
        return self._paused

    # --- helpers -------------------------------------------------------------------
    def _clamp(self, frame: int) -> int:
        return max(0, min(int(frame), self._total))

    def _begin(self, frame: int) -> None:
        self._base = frame
        self._held = None
        if frame < self._total:
            if self._prefetch is not None:
                self._prefetch.want(frame)
                self._prefetch.wait(frame, self._read_lead(frame))
            self._buffer_end = self._pcm.shape[0] if self._pcm is not None else self._total
            self._start_device(frame)
        self._t0 = self._clock()
        self._running = True

    def _halt(self) -> None:
        self._stop_device()
        self._running = False

    def _slice(self, frame: int) -> memoryview:
        """The bytes from ``frame`` to the end: a view, never a copy."""
        assert self._bytes is not None
        return self._bytes[frame * self._channels * 2 :]


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send fd 2 to /dev/null for a moment: ALSA's C library prints its own errors there."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to silence
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class SimpleaudioPlayer(_ClockedPlayer):
    """Plays through simpleaudio (ALSA on Linux): one ``play_buffer`` per start."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self._sa: Any = None
        self._play_obj: Any = None

    def _module(self) -> Any:
        if self._sa is None:
            try:
                import simpleaudio  # type: ignore[import-untyped,import-not-found,unused-ignore]
            except ImportError as exc:
                raise PlaybackError(
                    NO_DEVICE_MESSAGE.format(
                        reason=f"simpleaudio is not installed: {exc}; "
                        "pip install 'legsup-audio[play]'"
                    )
                ) from None
            self._sa = simpleaudio
        return self._sa

    def _start_device(self, frame: int) -> None:
        sa = self._module()
        error_type: type[BaseException] = getattr(
            getattr(sa, "_simpleaudio", None), "SimpleaudioError", RuntimeError
        )
        try:
            with _quiet_stderr():
                self._play_obj = sa.play_buffer(self._slice(frame), self._channels, 2, self._rate)
        except error_type as exc:
            self._play_obj = None
            reason = str(exc).split(" -- CODE")[0].rstrip(". ") or "unknown error"
            detail = str(exc).split("MSG:", 1)[1].strip() if "MSG:" in str(exc) else ""
            if detail:
                reason = f"{reason}: {detail}"
            raise PlaybackError(NO_DEVICE_MESSAGE.format(reason=reason)) from None

    def _stop_device(self) -> None:
        if self._play_obj is not None:
            self._play_obj.stop()
            self._play_obj = None

    def _device_busy(self) -> bool:
        return self._play_obj is not None and bool(self._play_obj.is_playing())

    def wait_device(self, timeout: float = 10.0) -> None:
        """Block until the device has consumed the current buffer (tests, file sinks)."""
        deadline = time.monotonic() + timeout
        while self._device_busy() and time.monotonic() < deadline:
            time.sleep(0.005)


@dataclass(slots=True)
class PlayRecord:
    """One start of the (pretend) device: where it started and where it was stopped."""

    start: int  # frame
    data: np.ndarray  # the samples handed over: source[start:], a view
    stopped_at: int | None = None  # frame reached when stopped; None = played to the end

    @property
    def played(self) -> np.ndarray:
        """The samples actually 'heard' by this play."""
        if self.stopped_at is None:
            return self.data
        return self.data[: max(0, self.stopped_at - self.start)]


class FakeClock:
    """A clock for tests: time moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryPlayer(_ClockedPlayer):
    """A player for tests that records every device start instead of making sound.

    With ``clock=None`` playback is instant: each start plays to the end at once.
    With a clock (e.g. :class:`FakeClock`) the position follows that clock.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._instant = clock is None
        super().__init__(clock if clock is not None else (lambda: 0.0))
        self.plays: list[PlayRecord] = []

    def _heard(self) -> int:
        if self._instant and self._running:
            return self._total
        return super()._heard()

    def _lead(self, frame: int) -> int:
        # A recording "device" takes everything at once: all of it must be read first.
        return self._total - frame

    def _read_lead(self, frame: int) -> int:
        return self._lead(frame)

    def _start_device(self, frame: int) -> None:
        assert self._pcm is not None
        self.plays.append(PlayRecord(frame, self._pcm[frame:]))

    def _stop_device(self) -> None:
        if self.plays and self.plays[-1].stopped_at is None and self._running:
            self.plays[-1].stopped_at = self._heard()

    def _device_busy(self) -> bool:
        return False
