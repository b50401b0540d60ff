"""One recorded take: read a user's audio file into a raw clip, within limits.

Owns decoding with ffmpeg (any format it reads; mono or stereo, any rate, mixed
down to mono at the session rate) under a time limit and a length limit, with
the child process always killed and reaped before returning or raising; the
high-pass under the voice's range (rumble, handling noise, a DC offset); and the
checks that make a take a clean script error instead of a strange session: a
file that cannot be decoded, holds only silence, or lasts absurdly long for
its text.  A take comes out like an engine's clip (``Clip``, int16, not yet
trimmed or levelled): the speak stage (``speaker``) makes it mix-ready with the
same chain as synthetic speech.  It never writes a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from legsup_audio.errors import SetupError
from legsup_audio.speech.base import Clip
from legsup_audio.units import SAMPLE_RATE, format_ms, ms_to_frame

#: The high-pass: a Butterworth of this order at this corner, under any speaking voice's fundamental.
HIGHPASS_HZ = 70.0
HIGHPASS_ORDER = 4
#: A take whose loudest sample (after the high-pass) is under this is silence: a muted microphone.
SILENT_DBFS = -50.0
#: The longest a take may last once its silences are trimmed: a base plus this much per
#: character of its text, about four times slower than anyone speaks a cue.
LONGEST_BASE_MS = 10_000
LONGEST_PER_CHAR_MS = 250
#: How much silence before and after the words the file itself may hold on top of that.
RAW_SLACK_MS = 60_000
#: Decoding a take may take at most this long (a normal one takes a fraction of a second).
DECODE_TIMEOUT_S = 30.0
#: Larger files are refused unread: an hour of 24-bit stereo at 48 kHz is about 1 GB.
MAX_TAKE_BYTES = 256 * 1024 * 1024
#: What shapes a take before the speaker's chain; part of the cache key of every take.
TAKE_CHAIN = f"hp{HIGHPASS_HZ}x{HIGHPASS_ORDER}/mono/silent{SILENT_DBFS}"
#: Every file ffmpeg may open for a take: the take itself, nothing over the network.
_PROTOCOLS = "file"


class TakeProblem(Exception):
    """A recording cannot be used; the speak stage turns it into a script error at the cue's line."""


def longest_ms(text: str) -> int:
    """The longest a take of ``text`` may last, its leading and trailing silence trimmed."""
    return LONGEST_BASE_MS + LONGEST_PER_CHAR_MS * len(" ".join(text.split()))


def digest(path: Path) -> str:
    """SHA-256 of the file's bytes: a take is cached by its content, so a new take counts at once."""
    try:
        info = os.stat(path)  # before opening: opening a FIFO would wait for a writer forever
        if not stat.S_ISREG(info.st_mode):
            raise TakeProblem(f"recording {path} is not a regular file (a folder, device or pipe)")
        if info.st_size > MAX_TAKE_BYTES:
            raise TakeProblem(f"recording {path} is {info.st_size / 2**20:.0f} MB, over the limit of "
                              f"{MAX_TAKE_BYTES // 2**20} MB: is it the right file?")
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise TakeProblem(f"cannot read recording {path}: {exc.strerror or exc}") from None


def read_take(path: Path, text: str, rate: int = SAMPLE_RATE) -> Clip:
    """The take of ``text`` at ``path`` as a mono clip at ``rate``, high-passed, not yet trimmed.

    Raises ``TakeProblem`` if it cannot be decoded, is silent, or its file is far
    too long for the text (the trimmed length is checked by ``check_length``).
    """
    raw_limit = longest_ms(text) + RAW_SLACK_MS
    x = decode(path, rate, ms_to_frame(raw_limit, rate))
    if x is None:
        raise TakeProblem(f"recording {path} lasts over {format_ms(raw_limit)}, far too long for a cue of "
                          f"{len(text.split())} word(s): is it the right file?")
    if x.size == 0:
        raise TakeProblem(f"recording {path} holds no audio: record it again")
    if x.size > 3 * ms_to_frame(1, rate):  # the filter needs a few samples to mean anything
        x = highpass(x, rate)
    peak = float(np.max(np.abs(x)))
    if not np.isfinite(peak) or peak < 10 ** (SILENT_DBFS / 20):
        level = "digital silence" if peak == 0 else f"its loudest sound is {20 * np.log10(peak):.0f} dBFS"
        raise TakeProblem(f"recording {path} is silent ({level}): check the microphone and record it again")
    scale = 0.9 * 32767 / peak  # one gain, for 16 bits; the speaker levels it anyway
    return Clip(np.clip(np.rint(x * scale), -32768, 32767).astype(np.int16), rate)


def check_length(clip: Clip, text: str, path: Path) -> None:
    """``TakeProblem`` if the trimmed take lasts absurdly long for its text."""
    if clip.duration_ms > (limit := longest_ms(text)):
        raise TakeProblem(f"recording {path} lasts {format_ms(clip.duration_ms)} without its leading and trailing "
                          f"silence, absurdly long for a cue of {len(text.split())} word(s) (at most "
                          f"{format_ms(limit)}): is it the right file?")


def highpass(x: np.ndarray, rate: int) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(HIGHPASS_ORDER, HIGHPASS_HZ, "highpass", fs=rate, output="sos")
    return sosfilt(sos, x.astype(np.float64))


def decode(path: Path, rate: int, max_frames: int, timeout_s: float = DECODE_TIMEOUT_S) -> np.ndarray | None:
    """The first audio stream of ``path`` as float64 mono at ``rate``; None if longer than ``max_frames``.

    ffmpeg is killed if it runs past ``timeout_s`` (a ``TakeProblem``) or once it has
    given more than ``max_frames``; it is always reaped before this returns or raises.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SetupError("ffmpeg is needed to read recordings: run `tools/setup.sh` (or `sudo apt-get install "
                         "ffmpeg`)")
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", _PROTOCOLS,
               "-i", f"file:{Path(path).resolve()}", "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1",
               "-ar", str(rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    limit = 4 * max_frames
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        timer = threading.Timer(timeout_s, _expire, (proc, timed_out))
        timer.daemon = True
        try:
            timer.start()
            assert proc.stdout is not None
            chunks, size = [], 0
            while size <= limit and (chunk := proc.stdout.read(1 << 16)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()  # type: ignore[union-attr]
            status = proc.wait()
        if timed_out.is_set():
            raise TakeProblem(f"recording {path} took over {timeout_s:g} s to decode; convert it to WAV or FLAC "
                              "and try again")
        if size > limit:
            return None
        if status != 0:
            errors.seek(0)
            lines = errors.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
            reason = lines[-1].strip() if lines else f"ffmpeg exit status {status}"
            reason = reason.removeprefix(f"{command[command.index('-i') + 1]}: ")  # the path is said already
            raise TakeProblem(f"recording {path} cannot be decoded ({reason}): is it an audio file? "
                              "export it again as WAV, FLAC, MP3, M4A or OGG")
    data = b"".join(chunks)
    return np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").astype(np.float64)


def _expire(proc: subprocess.Popen[bytes], flag: threading.Event) -> None:
    if proc.poll() is None:
        flag.set()
        proc.kill()
