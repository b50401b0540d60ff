"""Encode stage: stream finished PCM into ffmpeg and get an audio file.

Owns the ffmpeg command line for each output format and feeding it blocks as
they are rendered, so the whole session is never held in memory and rendering
runs on one core while ffmpeg encodes on the other.  It writes to the path it
is given (a temporary file, see ``output``); tags are written afterwards.  On
any failure or stop signal ffmpeg is killed and reaped before the error goes up,
so it never writes on after the temporary file is gone; a write error ffmpeg
reports (full disk, size limit, read-only or forbidden folder) becomes one clear
message, even when ffmpeg exits 0 after it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO


from legsup_audio.checkpoint import checkpoint, enter, pausing_at, signals_held
from legsup_audio.errors import OutputError, SetupError
from legsup_audio.output.files import explain
from legsup_audio.render.master import TARGET_LUFS
from legsup_audio.render.mix import BLOCK_FRAMES, PcmSource


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    suffix: str
    muxer: str
    codec: list[str]
    mono_bitrate: str | None  # None: lossless or quality-based
    stereo_bitrate: str | None
    #: How much quieter the decoded file is than the PCM fed in.  LAME comes out
    #: 0.44 dB quieter at every bitrate and quality setting (measured on tones and on
    #: speech with ffmpeg's ebur128), so MP3s are mastered that much hotter.
    loudness_loss_db: float = 0.0
    #: From this bitrate (kbit/s) up, these encoder options are added (see FORMATS).
    quick_from_kbps: int | None = None
    quick: tuple[str, ...] = ()

    def bitrate(self, channels: int, chosen: str | None = None) -> str | None:
        """The bitrate to encode at: ``chosen`` (``--bitrate``, as ``check_bitrate`` gives it) or the layout's default."""
        if self.name == "wav":
            return None
        return chosen or (self.mono_bitrate if channels == 1 else self.stereo_bitrate)

    def encoder_args(self, channels: int, chosen: str | None = None) -> list[str]:
        """The codec, its bitrate and its options, as ffmpeg takes them."""
        args = list(self.codec)
        rate = self.bitrate(channels, chosen)
        if rate:
            args += ["-b:a", rate]
            if self.quick_from_kbps is not None and float(rate.rstrip("k")) >= self.quick_from_kbps:
                args += self.quick
        return args


FORMATS: dict[str, Format] = {
    # 96k for a voice alone: at 64k LAME's output overshot the voice's true peak by up to 1.4 dB
    # (-0.6 dBTP from a -2 dBTP master, measured with ebur128 on the default session); at 96k, none.
    # Stereo (a bed) at 160k with LAME's quality 7 (no noise shaping): on the default session
    # it scores better than 128k at LAME's default quality 3 on every excerpt measured (PEAQ
    # ODG -0.31 to -0.43 against -0.44 to -0.85: the noise bed is what 128k struggled with)
    # and takes 60% of the encoder's time (9.7 s against 15.8 s of CPU for 14.5 minutes).
    # At 128k quality 7 grades worse than quality 3 on five of those six excerpts (by up to
    # 0.11), so it is used from 160k up.  Files are a quarter larger: 17.5 MB for those 14.5 minutes.
    "mp3": Format("mp3", ".mp3", "mp3", ["-c:a", "libmp3lame"], "96k", "160k", loudness_loss_db=0.44,
                  quick_from_kbps=160, quick=("-compression_level", "7")),
    "m4a": Format("m4a", ".m4a", "ipod", ["-c:a", "aac"], "64k", "128k"),
    "m4b": Format("m4b", ".m4b", "ipod", ["-c:a", "aac"], "64k", "128k"),  # the same AAC, named for audiobook players
    "ogg": Format("ogg", ".ogg", "ogg", ["-c:a", "libvorbis"], "64k", "128k"),
    "wav": Format("wav", ".wav", "wav", ["-c:a", "pcm_s16le"], None, None),
}


def mastering_target(fmt: str) -> float:
    """The loudness (LUFS) to master for ``fmt`` so the decoded file measures ``TARGET_LUFS``."""
    return TARGET_LUFS + FORMATS[fmt].loudness_loss_db


MISSING_FFMPEG = "ffmpeg is not installed; run `tools/setup.sh` (or `sudo apt-get install ffmpeg`)"


def find_ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise SetupError(MISSING_FFMPEG)
    return path


#: Formats whose chapters ffmpeg writes while encoding (mutagen cannot write MP4 chapters).
FFMPEG_CHAPTERS = frozenset({"m4a", "m4b"})


def ffmpeg_args(
    fmt: Format, rate: int, channels: int, bitrate: str | None, dest: Path, chapters: Path | None = None,
    language: str | None = None,
) -> list[str]:
    """The ffmpeg command line; ``chapters`` is an FFMETADATA file (``tags.ffmetadata_text``) to take chapters from;
    ``language`` (ISO 639-2) marks the audio track's language where only the muxer can (MP4's ``mdhd``)."""
    args = [
        find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0",
    ]
    if chapters is not None:
        args += ["-i", str(chapters), "-map", "0:a"]
    args += fmt.encoder_args(channels, bitrate)
    if fmt.name == "mp3":
        args += ["-id3v2_version", "0", "-write_xing", "1"]  # tags come from mutagen
    if fmt.name == "ogg":
        args += ["-fflags", "+bitexact"]  # fixed stream serials: the same audio gives the same file (`--to` skips it)
    # Tags come from mutagen afterwards; `-map_metadata -1` would also blank the chapter titles.
    args += ["-map_metadata", "1", "-map_chapters", "1"] if chapters is not None else ["-map_metadata", "-1"]
    if language is not None and fmt.muxer == "ipod":  # mutagen cannot write the track header's language
        args += ["-metadata:s:a:0", f"language={language}"]
    args += ["-f", fmt.muxer, str(dest)]
    return args


class _PipeWriter:
    """Writes blocks to ffmpeg from a thread, so rendering the next block overlaps encoding.

    The queue is short, so memory stays bounded whatever the session length.
    """

    def __init__(self, pipe: IO[bytes], depth: int = 8) -> None:
        self.pipe = pipe
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.failed = threading.Event()
        self.wrote = threading.Event()  # some audio has reached ffmpeg
        self.thread = threading.Thread(target=self._run, name="legsup-encode-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (data := self.queue.get()) is not None:
            if self.failed.is_set():
                continue  # drain: the producer must never block on a dead pipe
            try:
                self.pipe.write(data)
                self.pipe.flush()
                self.wrote.set()
            except (BrokenPipeError, OSError):
                self.failed.set()
        try:
            self.pipe.close()
        except (BrokenPipeError, OSError):
            self.failed.set()

    def put(self, data: bytes) -> bool:
        self.queue.put(data)
        return not self.failed.is_set()

    def close(self) -> bool:
        """Finish writing; True when every byte reached ffmpeg."""
        self.queue.put(None)
        self.thread.join()
        return not self.failed.is_set()

    def abort(self) -> None:
        self.failed.set()
        if self.thread.is_alive():
            self.queue.put(None)
        self.thread.join(timeout=5)


def _widen_pipe(pipe: IO[bytes]) -> None:
    """Ask Linux for a 1 MiB pipe so ffmpeg is never starved between two blocks."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass  # a smaller pipe only costs a little overlap


def encode(
    source: PcmSource,
    dest: Path,
    fmt: str = "mp3",
    bitrate: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    block: int = BLOCK_FRAMES,
    target: Path | None = None,
    chapters: Path | None = None,
    language: str | None = None,
) -> None:
    """Encode every frame of ``source`` to ``dest`` in ``fmt``.

    ``target`` is the path messages name (the file ``dest`` will become), when ``dest``
    is a temporary file; ``chapters`` an FFMETADATA file whose chapters ffmpeg writes
    (M4A/M4B: a QuickTime chapter track and a Nero ``chpl`` box); ``language`` the
    audio track's ISO 639-2 language, for the formats whose muxer holds it.
    """
    enter("encoding")
    spec = FORMATS[fmt]
    args = ffmpeg_args(spec, source.rate, source.channels, bitrate, dest, chapters, language)
    with tempfile.TemporaryFile() as errors:
        proc: subprocess.Popen[bytes] | None = None
        writer: _PipeWriter | None = None
        try:
            # Held while starting: a stop signal landing before ``proc`` is known would orphan
            # an ffmpeg that, seeing its input end, writes a file after ours is cleaned up.
            with signals_held():
                try:
                    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
                except OSError as exc:
                    raise SetupError(f"ffmpeg could not be started ({exc.strerror}); {MISSING_FFMPEG}") from None
            assert proc.stdin is not None
            _widen_pipe(proc.stdin)
            writer = _PipeWriter(proc.stdin)
            for start in range(0, source.total, block):
                n = min(block, source.total - start)
                if not writer.put(source.read(start, n).tobytes()):
                    break  # ffmpeg stopped reading: its error is reported below
                if start == 0:
                    if pausing_at("encoding"):
                        writer.wrote.wait(30)  # the test hook pauses mid-stream, once ffmpeg has audio
                    checkpoint("encoding")
                if progress:
                    progress(start + n, source.total)
            broken = not writer.close()
            code = proc.wait()
        except BaseException:
            if proc is not None:
                proc.kill()  # ffmpeg first, so a writer blocked on the pipe gets EPIPE and lets go
            if writer is not None:
                writer.abort()
            if proc is not None:
                if proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
                proc.wait()
            raise
        errors.seek(0)
        lines = errors.read().decode(errors="replace").strip().splitlines()
        # ffmpeg 5.1 exits 0 from a full disk while writing MP3, leaving a truncated file:
        # what it printed counts as much as its status.
        if code != 0 or broken or any(_write_error(line) for line in lines):
            raise OutputError(ffmpeg_failure(fmt, target or dest, code, lines))


#: What ffmpeg prints (strerror) when writing its output fails, and the errno it stands for.
_WRITE_ERRORS = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "File too large": errno.EFBIG,
    "Permission denied": errno.EACCES,
    "Read-only file system": errno.EROFS,
}


def _write_error(line: str) -> int | None:
    """The errno of an output write error ffmpeg reported on ``line``, if it is one."""
    for text, number in _WRITE_ERRORS.items():
        if text in line:
            return number
    return errno.EIO if line.startswith(("Error writing trailer", "Error closing file")) else None


def ffmpeg_failure(fmt: str, dest: Path, code: int, lines: list[str]) -> str:
    """One clear line for a failed ffmpeg run, from its exit status and its last error lines."""
    if code == -getattr(signal, "SIGXFSZ", 25):  # killed for passing the file-size limit
        return explain(OSError(errno.EFBIG, "File too large"), dest.parent)
    for line in reversed(lines):
        number = _write_error(line)
        if number is not None and number != errno.EIO:
            return explain(OSError(number, os.strerror(number)), dest.parent)
    detail = lines[-1] if lines else f"exit status {code}"
    return f"ffmpeg could not encode {fmt}: {detail}"
