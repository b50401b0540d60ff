"""The music layer of the bed: a user's audio file, played once or looped seamlessly.

This module owns decoding a short user file (MP3, WAV, OGG, FLAC, anything ffmpeg
reads) once into memory as float32 stereo at the session's rate, and serving any
block of it, at level, by absolute sample index.  A looped file repeats with an
equal-power crossfade at the seam, so the loop point never clicks.  The level is
the RMS of the whole decoded file over both channels (the same meaning as the
synthetic layers); its gated BS.1770 loudness is measured once, when it is
loaded, for ``render.levels``.  A missing or undecodable file is a ``ValueError`` (the caller
turns it into a script error with a line number); a missing ffmpeg is a
``SetupError``.  Fades, ducking and mixing belong to the renderer.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from legsup_audio.render.bed.generators import (
    check_block,
    check_level,
    db_to_amplitude,
    read_periodic,
)
from legsup_audio.dsp import loudness
from legsup_audio.errors import SetupError
from legsup_audio.script.media import MUSIC_MAX_SECONDS  # one limit: validate checks what the bed holds


def decode(path: str | Path, rate: int) -> np.ndarray:
    """The audio of ``path`` as float32 ``(frames, 2)`` at ``rate``, via ffmpeg.

    Raises ``ValueError`` if the file is missing, is not audio ffmpeg can decode,
    holds no samples or is longer than ``MUSIC_MAX_SECONDS``; ``SetupError`` if
    ffmpeg is not installed.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"music file not found: {file}")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SetupError("ffmpeg is needed to read music files: install it (e.g. apt install ffmpeg)")
    limit = MUSIC_MAX_SECONDS * rate * 2 * 4  # bytes of f32le stereo
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", f"file:{file.resolve()}",
               "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "2", "-ar", str(rate), "pipe:1"]
    with tempfile.TemporaryFile() as errors:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL) as proc:
            assert proc.stdout is not None
            data = proc.stdout.read(limit + 8)
            too_long = len(data) > limit
            if too_long:
                proc.kill()
            proc.stdout.close()
            status = proc.wait()
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip().splitlines()
    if too_long:
        raise ValueError(f"music file {file} is longer than {MUSIC_MAX_SECONDS // 60} minutes: trim it, or loop a shorter one")
    if status != 0:
        reason = message[-1] if message else f"ffmpeg exit status {status}"
        raise ValueError(f"cannot decode music file {file}: {reason}")
    frames = len(data) // 8
    if frames == 0:
        raise ValueError(f"music file {file} contains no audio")
    return np.frombuffer(data[: frames * 8], dtype="<f4").reshape(frames, 2)


class Music:
    """A user's audio file at ``level_db`` (RMS), once or looped; stereo.

    ``loop=False`` plays the file once from sample 0, then silence.  ``loop=True``
    repeats it forever: each repeat starts ``crossfade_ms`` before the previous one
    ends, the two overlapping with an equal-power (sine/cosine) crossfade, so the
    loop period is the file's length minus the crossfade (the crossfade is shortened
    to half the file for very short files).  ``frames`` is the decoded length.
    """

    channels = 2

    def __init__(self, rate: int, path: str | Path, level_db: float, loop: bool, crossfade_ms: int = 1500) -> None:
        self.rate = int(rate)
        self.path = Path(path)
        self.level_db = check_level(level_db)
        self.loop = bool(loop)
        if crossfade_ms < 0:
            raise ValueError(f"music crossfade must be >= 0 ms, not {crossfade_ms}")
        source = decode(self.path, self.rate)
        rms = float(np.sqrt(np.mean(np.square(source, dtype=np.float64))))
        if not math.isfinite(rms) or rms < 1e-7:
            raise ValueError(f"music file {self.path} is silent")
        source = source * np.float32(db_to_amplitude(self.level_db) / rms)
        self.frames = len(source)
        # Its loudness as BS.1770 gates a programme: quiet passages of the music do not count.
        lufs = loudness(source, self.rate)
        self.lufs = lufs if math.isfinite(lufs) else 10 * math.log10(2 * rms * rms) - 0.691
        self.crossfade = min(round(crossfade_ms * self.rate / 1000), self.frames // 2)
        if self.loop:
            fade = self.crossfade
            period = self.frames - fade
            u = (np.arange(fade, dtype=np.float64) + 0.5) / max(fade, 1)
            fade_in = np.sin(0.5 * np.pi * u).astype(np.float32)[:, None]
            fade_out = np.cos(0.5 * np.pi * u).astype(np.float32)[:, None]
            # the very first pass starts cleanly; every later pass starts in a crossfade
            self._head = source[:fade].copy()
            cycle = source[:period].copy()
            cycle[:fade] = fade_in * source[:fade] + fade_out * source[period:]
            self._cycle = cycle
        else:
            self._source = source

    def k_power(self) -> float:
        """K-weighted power (channels summed) that gives the file's measured loudness, at its level."""
        return float(10 ** ((self.lufs + 0.691) / 10))

    def render(self, start: int, n: int) -> np.ndarray:
        start, n = check_block(start, n)
        out = np.zeros((n, 2), dtype=np.float32)
        if not self.loop:
            stop = min(start + n, self.frames)
            if stop > start:
                out[: stop - start] = self._source[start:stop]
            return out
        head_stop = min(start + n, len(self._head))
        if head_stop > start:
            out[: head_stop - start] = self._head[start:head_stop]
        rest = max(start, head_stop)
        if rest < start + n:
            out[rest - start :] = read_periodic(self._cycle, rest, start + n - rest)
        return out
