"""The content-addressed clip cache.

Owns where trimmed clips live on disk and how they are named, written and
checked.  The key hashes everything that changes the sound (engine id and
version, every speech option, the trimming rule, the text), so changing a voice
or rate can never hand back old audio.  Entries are written to a temporary file
and renamed into place, so a reader sees a whole entry or none; an entry whose
header, size or frame count is wrong is treated as missing and removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import platformdirs

from legsup_audio.speech.base import Clip, SpeechOptions, clip_ms

#: Bump when the way clips are post-processed (trimming, levelling) changes.
CLIP_FORMAT = "voice-v2"
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
    """A verified clip in the cache: where it is and how long it lasts."""

    path: Path
    frames: int
    rate: int

    @property
    def duration_ms(self) -> int:
        return clip_ms(self.frames, self.rate)

    def load(self) -> Clip:
        clip = read_clip(self.path)
        if clip is None or clip.frames != self.frames:
            from legsup_audio.errors import SpeechError

            raise SpeechError(f"the cached clip {self.path} changed or vanished while in use; run the command again")
        return clip

    @property
    def stats_path(self) -> Path:
        return self.path.with_suffix(".stats.npy")

    def stats(self) -> ClipStats:
        """The clip's loudness profile and true peak, computed once and kept beside it."""
        try:
            data = np.load(self.stats_path, allow_pickle=False)
            if data.ndim == 1 and data.shape[0] == 2 + self.duration_ms + STATS_TAIL_MS and data[0] == self.frames:
                return ClipStats(float(data[1]), data[2:])
        except (OSError, ValueError, EOFError):
            pass  # missing or damaged: measure again
        stats = measure_clip(self.load())
        data = np.concatenate([[float(self.frames), stats.true_peak], stats.energy_ms])
        with contextlib.suppress(OSError):  # a read-only cache only costs the measurement
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".npy")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.save(f, data, allow_pickle=False)
                os.replace(tmp, self.stats_path)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return stats


#: The K-weighting filter rings on briefly after a clip ends; its energy counts too.
STATS_TAIL_MS = 50


@dataclass(frozen=True, slots=True)
class ClipStats:
    """What the master needs to know of a clip without rendering the session."""

    true_peak: float  # linear, 4x oversampled
    energy_ms: np.ndarray  # K-weighted sum of squares per millisecond from the clip's start (+ tail)


def measure_clip(clip: Clip) -> ClipStats:
    from legsup_audio.dsp import HOT, k_weighted_squares, true_peaks

    x = clip.samples.astype(np.float64) / 32768.0
    n_ms = clip_ms(clip.frames, clip.rate) + STATS_TAIL_MS
    squares = k_weighted_squares(x, clip.rate, tail=n_ms * clip.rate // 1000 + 1 - clip.frames)
    # Millisecond k holds frames [k * rate / 1000, (k + 1) * rate / 1000), as the session grid does.
    edges = (np.arange(n_ms + 1) * clip.rate) // 1000
    csum = np.concatenate([[0.0], np.cumsum(squares)])
    energy = np.diff(csum[np.minimum(edges, squares.shape[0])])
    peak = float(true_peaks(x[:, None], float(np.abs(x).max()) * HOT).max())
    return ClipStats(peak, energy)


class ClipCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> ClipRef | None:
        """The entry for ``key`` if it is present and whole; a broken one is removed."""
        path = self.path_for(key)
        info = _check(path)
        if info is None:
            if path.exists():
                with contextlib.suppress(OSError):
                    path.unlink()
            return None
        frames, rate = info
        return ClipRef(path, frames, rate)

    def put(self, key: str, clip: Clip) -> ClipRef:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wav")
        try:
            with os.fdopen(fd, "wb") as f:
                with wave.open(f, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(clip.rate)
                    w.writeframes(clip.samples.astype("<i2").tobytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return ClipRef(path, clip.frames, clip.rate)


def _check(path: Path) -> tuple[int, int] | None:
    """(frames, rate) of a whole, well-formed entry, or None."""
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as w:
            frames, rate = w.getnframes(), w.getframerate()
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or frames <= 0 or size != 44 + 2 * frames:
                return None
    except (OSError, EOFError, wave.Error):
        return None
    return frames, rate


def read_clip(path: Path) -> Clip | None:
    if _check(path) is None:
        return None
    try:
        with wave.open(str(path), "rb") as w:
            data = w.readframes(w.getnframes())
            rate = w.getframerate()
    except (OSError, EOFError, wave.Error):
        return None
    return Clip(np.frombuffer(data, dtype="<i2"), rate)
