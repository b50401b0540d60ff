"""The master's analysis of a mix, kept between runs in the cache folder.

Owns storing and finding what ``master`` learns about a mix at unit gain: each
step's planned energy and peak bound (``levels.Profile``) and the limiter
model's measured bins.  None of it depends on the loudness target, so an
export's analysis also serves a later ``legsup play`` of the same session (a
different target) and every replay: mastering then renders nothing before the
first sound.

An analysis is found by a fingerprint of everything the samples depend on: the
timeline (every event, text and time, and the bed's plan), each clip by its
checksum, the layers in the mix, the sample rate, and the source of the modules
that make and measure the samples.  Change any of them and the fingerprint
changes.  A mix with a music file is not kept (the file could change under the
same name).  Entries are written atomically; an unreadable or inconsistent one
is ignored and made again.  The folder keeps the most recently used analyses
up to ``KEEP_BYTES`` (each edit of a script makes a new one), and clears the
temporary files of processes killed while saving.  Like the clip cache, this
is only ever a shortcut: with the folder gone or read-only, everything still
works.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from legsup_audio.output.files import replace_with
from legsup_audio.render.mix import Mix

#: The analyses kept, newest used first (an hour's session with a bed takes about 2 MB).
KEEP_BYTES = 64 * 1024 * 1024

#: A temporary file older than this was left by a process that was killed while saving.
STALE_TMP_S = 3600

#: Modules whose code decides the samples of a mix or its analysis, by module name below
#: the package: they are imported to find their files, so a module that moves or goes
#: away fails here loudly instead of silently dropping out of the fingerprint.
_SOURCES = ("render.levels", "render.master", "render.mix", "dsp", "render.tones", "render.bed.track",
            "render.bed.generators", "render.bed.periodic")


def _code_fingerprint() -> bytes:
    package = __name__.partition(".")[0]
    digest = hashlib.sha256()
    for name in _SOURCES:
        module = importlib.import_module(f"{package}.{name}")
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.digest()


def fingerprint(mix: Mix) -> str | None:
    """The identity of ``mix``'s samples, or None when it cannot be vouched for (a music bed)."""
    digest = hashlib.sha256(_code_fingerprint())
    digest.update(f"{mix.rate}/{mix.channels}/{mix.total}".encode())
    digest.update(mix.timeline.to_json().encode())
    for layer in mix.layers:
        digest.update(type(layer).__name__.encode())
        identity = getattr(layer, "identity", None)
        if identity is None:
            return None
        text = identity()
        if text is None:
            return None
        digest.update(text.encode())
    return digest.hexdigest()


class AnalysisStore:
    """``<cache>/analysis/<fingerprint>.npz``: named arrays, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root / "analysis"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.root / f"{key}.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                found = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return None  # absent, or damaged: made again
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be pruned
        return found

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # mostly zeros where nothing was measured: compressed
            replace_with(self.root / f"{key}.npz", lambda f: np.savez_compressed(f, **arrays), prefix=".tmp-",
                         suffix=".npz")
        except OSError:
            pass  # a full or read-only cache only costs the next run this analysis
        self.prune(keep=self.root / f"{key}.npz")

    def prune(self, keep: Path | None = None) -> None:
        """Remove the least recently used analyses beyond ``KEEP_BYTES``, never ``keep`` (the one just saved),
        and the temporary files that killed processes left behind."""
        entries = []
        stale = time.time() - STALE_TMP_S
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.root):
                if not entry.name.endswith(".npz"):
                    continue
                with contextlib.suppress(OSError):  # another process may prune it first
                    info = entry.stat()
                    if not entry.name.startswith("."):
                        entries.append((info.st_mtime_ns, info.st_size, entry.path))
                    elif entry.name.startswith(".tmp-") and info.st_mtime < stale:
                        os.unlink(entry.path)
        # the one just saved first, then the most recently used (its clock may be behind another's)
        entries.sort(key=lambda entry: (entry[2] != str(keep), -entry[0]))
        kept = 0
        for index, (_, size, path) in enumerate(entries):
            kept += size
            if index and kept > KEEP_BYTES:
                with contextlib.suppress(OSError):
                    os.unlink(path)
