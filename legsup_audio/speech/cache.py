"""The content-addressed clip cache, safe to share between processes.

Owns where trimmed clips live on disk and how they are named, written and
checked.  The key hashes everything that changes the sound (engine id and
version, every speech option, the trimming rule, the text), so changing a voice
or rate can never hand back old audio.

Several ``legsup`` processes may use one cache folder at once.  Every clip is
written under a unique temporary name in its final folder and moved into place
in one step, so a reader sees a whole file or none.  A clip is linked into place
only if no entry exists yet: the first writer wins and later writers use its
entry, so a clip another process is already using is never swapped under it.
Each clip carries a CRC-32 of its samples in a trailing ``crc `` chunk (players
ignore it); an entry whose header, size, frame count or checksum is wrong is
treated as missing and replaced.  The checksum costs no
extra read: it is checked on the one read that loads the clip, and a clip that
fails it there is made again through ``ClipRef.repair`` (set by the speaker).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import platformdirs

from legsup_audio.output.files import temporary_beside
from legsup_audio.speech.base import Clip, SpeechOptions, clip_ms

#: Bump when the way clips are post-processed (trimming, levelling) or stored changes.
CLIP_FORMAT = "voice-v5"  # v5: the key inside the entry
#: Clips are stored this far under their level in the mix, so a voice's natural peaks
#: fit in 16 bits; the voice track adds it back (in float) when it places them.
STORE_HEADROOM_DB = 10.0
MIX_GAIN = 10 ** (STORE_HEADROOM_DB / 20)
CACHE_ENV = "LEGSUP_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$LEGSUP_CACHE_DIR``, else the user's cache folder (platformdirs)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("legsup-audio", appauthor=False)) / "clips"


def clip_key(engine_id: str, engine_version: str, options: SpeechOptions, text: str) -> str:
    payload = {
        "engine": engine_id,
        "version": engine_version,
        "options": asdict(options),
        "format": CLIP_FORMAT,
        "text": text,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ClipRef:
    """A verified clip in the cache: where it is, how long it lasts, and its checksum."""

    path: Path
    frames: int
    rate: int
    crc: int  # CRC-32 of the samples as stored
    #: Makes the clip again and stores it, if the entry is found damaged when it is loaded.
    repair: Callable[[], ClipRef] | None = field(default=None, compare=False, repr=False)

    @property
    def duration_ms(self) -> int:
        return clip_ms(self.frames, self.rate)

    def with_repair(self, repair: Callable[[], ClipRef]) -> ClipRef:
        return replace(self, repair=repair)

    def load(self) -> Clip:
        """The samples, checked against the entry's checksum; a damaged entry is made again."""
        clip = read_clip(self.path)
        if clip is None and self.repair is not None:
            clip = read_clip(self.repair().path)
        if clip is not None and clip.frames != self.frames and clip.rate == self.rate:
            clip = _fit(clip, self.frames)  # made again since this ref was taken (here or by another process)
        if clip is None or clip.frames != self.frames:
            from legsup_audio.errors import SpeechError

            raise SpeechError(f"the cached clip {self.path} changed or vanished while in use; run the command again")
        return clip


#: espeak-ng's output depends a little on what it spoke before (a few samples of
#: length), so a clip made again may differ slightly from the one the session was
#: timed with; up to this much it is padded or cut to fit, beyond it is an error.
REPAIR_SLACK_MS = 10


def _fit(clip: Clip, frames: int) -> Clip | None:
    """``clip`` padded with silence or cut to ``frames``, if that changes it by little enough."""
    if abs(clip.frames - frames) > clip.rate * REPAIR_SLACK_MS // 1000:
        return None
    samples = np.zeros(frames, dtype=np.int16)
    n = min(frames, clip.frames)
    samples[:n] = clip.samples[:n]
    return Clip(samples, clip.rate)


class ClipCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> ClipRef | None:
        """The entry for ``key`` if its header and size are whole, else None.

        Only the header and the checksum chunk are read here (the samples are
        checked when they are loaded).  A broken entry is left for ``put`` to
        replace: removing it here could remove a good one another process has
        just moved into place.
        """
        path = self.path_for(key)
        info = _probe(path)
        return None if info is None else ClipRef(path, *info)

    def put(self, key: str, clip: Clip) -> ClipRef:
        """Store ``clip`` for ``key``; if another process stored a sound entry first, that one is kept.

        Something of the wrong type where the entry or its folder belongs (a folder, a
        FIFO) is removed first, and stale temporary files in the folder are swept."""
        path = self.path_for(key)
        _make_folder(path.parent)
        _sweep(path.parent)
        samples = clip.samples.astype("<i2").tobytes()
        name = _key_bytes(key)
        crc = zlib.crc32(name, zlib.crc32(samples))
        mine = ClipRef(path, clip.frames, clip.rate, crc)
        data = _header(clip.frames, clip.rate) + samples + _KEY.pack(b"key ", len(name), name) + _TRAILER.pack(b"crc ", 4, crc)
        with temporary_beside(path, prefix=".tmp-", suffix=".wav") as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            _clear_wrong_type(path)
            if _link_new(tmp, path):
                return mine
            theirs = _probe(path)
            if theirs is not None and read_clip(path) is not None:
                return ClipRef(path, *theirs)
            os.replace(tmp, path)  # the entry there is broken: ours replaces it in one step
            return mine


#: Temporary files older than this in a cache folder were left by a killed process: swept.
STALE_SECONDS = 600
_swept: set[Path] = set()


def _sweep(folder: Path, now: float | None = None) -> None:
    """Remove ``.tmp-*`` files in ``folder`` older than ``STALE_SECONDS`` (once per folder per process)."""
    if folder in _swept:
        return
    _swept.add(folder)
    import time

    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(".tmp-") and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                        os.unlink(entry.path)


def _make_folder(folder: Path) -> None:
    """``folder`` as a folder: anything else of that name in the cache (a file, a FIFO) is removed first."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        folder.unlink()  # not a folder: a damaged cache, never a user's file
        folder.mkdir(parents=True, exist_ok=True)


def _clear_wrong_type(path: Path) -> None:
    """Remove what is at ``path`` if it is not a regular file (a folder, a FIFO, a link), so an entry can go there."""
    import shutil
    import stat

    try:
        mode = path.lstat().st_mode
    except OSError:
        return
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _key_bytes(key: str) -> bytes:
    try:
        return bytes.fromhex(key)
    except ValueError:
        return key.encode("utf-8", "surrogateescape")


def _link_new(tmp: Path, path: Path) -> bool:
    """Put ``tmp`` at ``path`` unless something is there already; True if it was put."""
    try:
        os.link(tmp, path)  # atomic and never overwrites
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: replace, still in one step
        os.replace(tmp, path)
    return True


# An entry is exactly: the canonical 44-byte header of a mono 16-bit PCM WAV, the
# samples, a 40-byte "key " chunk holding the entry's key, and a 12-byte "crc " chunk
# holding the CRC-32 of the samples and then the key.
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_TRAILER = struct.Struct("<4sII")
#: The entry's own key (the SHA-256 its name is made of), in a "key " chunk before the "crc " one; the
#: CRC-32 covers the samples and then the key, so an entry copied or moved under another key's name is
#: refused like a damaged one.
_KEY = struct.Struct("<4sI32s")


def _header(frames: int, rate: int) -> bytes:
    size = 2 * frames
    return _HEADER.pack(b"RIFF", 4 + 24 + 8 + size + _KEY.size + _TRAILER.size, b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16,
                        b"data", size)


def _parse(head: bytes, file_size: int) -> tuple[int, int] | None:
    """(frames, rate) if ``head`` is our header and the file is exactly as long as it says."""
    if len(head) != _HEADER.size:
        return None
    fields = _HEADER.unpack(head)
    frames, rate = fields[-1] // 2, fields[7]
    if frames <= 0 or not 0 < rate <= 1_000_000 or head != _header(frames, rate):  # every other field has one right value
        return None
    if file_size != _HEADER.size + 2 * frames + _KEY.size + _TRAILER.size:
        return None
    return frames, rate


def _expected_key(path: Path) -> bytes | None:
    """The key an entry at ``path`` must carry: its name's SHA-256 (None for a name that is not one)."""
    try:
        key = bytes.fromhex(path.stem)
    except ValueError:
        return None
    return key if len(key) == 32 else None


def _probe(path: Path) -> tuple[int, int, int] | None:
    """(frames, rate, crc) of an entry whose header, size, key and trailer are whole, or None."""
    try:
        with open(path, "rb") as f:
            info = _parse(f.read(_HEADER.size), os.fstat(f.fileno()).st_size)
            if info is None:
                return None
            f.seek(_HEADER.size + 2 * info[0])
            tail = f.read(_KEY.size + _TRAILER.size)
        key_id, key_size, key = _KEY.unpack(tail[: _KEY.size])
        chunk_id, chunk_size, crc = _TRAILER.unpack(tail[_KEY.size :])
    except (OSError, struct.error):
        return None
    if (chunk_id, chunk_size) != (b"crc ", 4) or (key_id, key_size) != (b"key ", 32) or key != _expected_key(path):
        return None
    return info[0], info[1], crc


def read_clip(path: Path) -> Clip | None:
    """The clip stored at ``path``, or None if the entry is not whole or its checksum is wrong."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    info = _parse(data[: _HEADER.size], len(data))
    if info is None:
        return None
    frames, rate = info
    samples = data[_HEADER.size : _HEADER.size + 2 * frames]
    key_id, key_size, key = _KEY.unpack(data[_HEADER.size + 2 * frames : _HEADER.size + 2 * frames + _KEY.size])
    chunk_id, chunk_size, crc = _TRAILER.unpack(data[_HEADER.size + 2 * frames + _KEY.size :])
    if (chunk_id, chunk_size) != (b"crc ", 4) or (key_id, key_size) != (b"key ", 32):
        return None
    if key != _expected_key(path) or zlib.crc32(key, zlib.crc32(samples)) != crc:
        return None  # damaged, or an entry of another key (copied or moved here): made again
    return Clip(np.frombuffer(samples, dtype="<i2"), rate)
