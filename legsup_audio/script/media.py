"""Checking the user's own media files that a script names: its cover image and its music.

Owns every check ``export`` would otherwise meet late (after speaking and rendering):
a cover must be a PNG or JPEG of sane size (no GIF, no decompression bomb, no huge
file); a music file must decode to audio that is not silent and not longer than
``MUSIC_MAX_SECONDS`` (a device or stream that never ends is cut off by a time
limit).  The parser runs them, so ``validate`` reports them at their ``FILE:LINE:COL``;
``output.cover`` runs the cover check again when it reads the file.  Decoding runs
ffmpeg as a child that dies with us (``PR_SET_PDEATHSIG``) and is killed and reaped on
any failure or interrupt, so none is ever left behind.  It writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from legsup_audio.units import SAMPLE_RATE

#: A cover larger than this is refused: phones show 600-1400 px art, and a whole
#: photo library's original is not cover art (ID3 and MP4 carry it in every copy).
MAX_COVER_BYTES = 10_000_000
#: Pixels of a cover (width x height).  A 5000 x 5000 image is far past what any player
#: shows; a "decompression bomb" (a small file claiming 50,000 x 50,000) is refused unread.
MAX_COVER_PIXELS = 25_000_000
COVER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}

#: Longest music file the bed holds in memory (the same as ``render.bed.music``'s limit).
MUSIC_MAX_SECONDS = 20 * 60
#: Reading a music file to its end takes under a few seconds for 20 minutes of MP3; one
#: that has not ended by then is a device, a stream or a playlist that loops.
MUSIC_DECODE_SECONDS = float(os.environ.get("LEGSUP_DECODE_TIMEOUT", "60"))
#: RMS (full scale 1.0) below which a music file counts as silent, as the bed's level is set from it.
SILENT_RMS = 1e-7


def cover_problem(path: Path) -> tuple[str | None, str | None]:
    """``(problem, mime)``: why ``path`` cannot be a cover (else None) and its MIME type."""
    try:
        size = path.stat().st_size
    except (OSError, ValueError) as exc:
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}", None
    if size > MAX_COVER_BYTES:
        return (f"is {size / 1e6:.1f} MB, over the limit of {MAX_COVER_BYTES / 1e6:g} MB for cover art; "
                f"save a smaller PNG or JPEG (1400 x 1400 pixels is plenty)"), None
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", None
    from PIL import Image  # lazily: only scripts with a cover need Pillow here

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
                if fmt in COVER_FORMATS and width * height <= MAX_COVER_PIXELS:
                    img.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"claims more pixels than any cover needs (over {MAX_COVER_PIXELS:,}); use a smaller PNG or JPEG", None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds on a damaged or foreign file
        return "is not a readable image; use a PNG or JPEG file", None
    if fmt not in COVER_FORMATS:
        return f"is {fmt or 'an unknown format'}; use a PNG or JPEG file", None
    if width * height > MAX_COVER_PIXELS:
        return (f"is {width} x {height} pixels, over the limit of {MAX_COVER_PIXELS:,} pixels; "
                f"scale it down (1400 x 1400 is plenty)"), None
    return None, COVER_FORMATS[fmt]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the ffmpeg child before exec: be killed when legsup dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def music_problem(path: Path, *, timeout: float | None = None, rate: int = SAMPLE_RATE) -> str | None:
    """None when ffmpeg decodes ``path`` to audio that is neither silent nor too long; else what is wrong.

    The whole file is read (in blocks, never held in memory), as the bed will read it:
    stereo float at the session's rate, so "silent" means what the bed's level would see.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return "ffmpeg is needed to read music files: install it (e.g. apt install ffmpeg)"
    import numpy as np

    limit = timeout if timeout is not None else MUSIC_DECODE_SECONDS
    max_frames = MUSIC_MAX_SECONDS * rate
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
               "-i", f"file:{path}", "-map", "0:a:0", "-t", str(MUSIC_MAX_SECONDS + 1),
               "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "2", "-ar", str(rate), "pipe:1"]
    frames, energy, timed_out = 0, 0.0, False
    carry = b""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + limit
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or not sel.select(left):
                        timed_out = True
                        break
                    chunk = os.read(proc.stdout.fileno(), 1 << 20)
                    if not chunk:
                        break
                    chunk, carry = carry + chunk, b""
                    usable = len(chunk) - len(chunk) % 8
                    carry = chunk[usable:]
                    block = np.frombuffer(chunk[:usable], dtype="<f4").astype(np.float64)
                    energy += float(np.dot(block, block))
                    frames += usable // 8
                    if frames > max_frames:
                        break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        errors.seek(0)
        lines = errors.read().decode("utf-8", "replace").strip().splitlines()
    if timed_out:
        return (f"music file {path} did not end within {limit:g} s of reading (is it a device, a stream or a "
                f"playlist?); give an MP3, WAV, OGG or FLAC file")
    if frames > max_frames:
        return (f"music file {path} is longer than {MUSIC_MAX_SECONDS // 60} minutes, the most the bed holds; "
                f"trim it, or loop a shorter one")
    if proc.returncode != 0 or frames == 0:
        reason = lines[-1].replace(f"file:{path}: ", "") if lines else "it holds no audio"
        return f"cannot decode music file {path}: {reason} (give an MP3, WAV, OGG or FLAC file)"
    rms = math.sqrt(energy / (2 * frames))
    if not math.isfinite(rms) or rms < SILENT_RMS:
        return f"music file {path} is silent; give a file with sound in it, or leave the music layer out"
    return None
