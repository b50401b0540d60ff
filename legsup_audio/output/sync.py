"""Copying finished exports to a phone or SD-card folder (``legsup export --to DIR``).

Owns the copy: each file goes to a temporary file in the destination folder, is
flushed to the device, and is renamed into place, so an unplugged card never
holds a half-copied track under its real name; a file already there with the
same size and the same content (SHA-256) is skipped.  It copies finished files
only: it never renders, encodes or tags.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from legsup_audio.checkpoint import checkpoint, current
from legsup_audio.errors import OutputError, UsageError
from legsup_audio.output.files import check_target, explain, temporary_beside

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class CopyReport:
    folder: Path
    copied: tuple[Path, ...]  # targets written
    skipped: tuple[Path, ...]  # targets already there and identical

    def summary(self) -> str:
        if not self.copied:
            return f"nothing to copy: all {len(self.skipped)} files are already in {self.folder}"
        there = f" ({len(self.skipped)} already there)" if self.skipped else ""
        return f"copied {len(self.copied)} file(s) to {self.folder}{there}"


def check_destination(folder: Path) -> None:
    """Fail early (a ``UsageError``, exit 2) unless ``folder`` is, or can be made as, a folder we can write on a mounted device.

    The folder itself may be missing (it is created), but its parent must exist: a
    missing parent usually means the phone or card is not mounted, and creating it
    would silently fill the local disk instead.
    """
    try:
        exists = folder.exists()
    except (OSError, ValueError):  # a NUL, a name too long
        raise UsageError(f"--to {folder}: not a folder name this system can use; give another") from None
    if exists:
        if not folder.is_dir():
            raise UsageError(f"--to {folder}: that is a file, not a folder")
        _probe(folder, folder)
        return
    parent = folder.parent
    if not parent.is_dir():
        raise UsageError(f"--to {folder}: {parent} does not exist; is the phone or card mounted?")
    _probe(parent, folder)


def _probe(where: Path, folder: Path) -> None:
    """Write and remove a hidden empty file in ``where``: a folder that takes no files (read-only, full,
    a system folder like /proc, no permission) is refused now, not after the whole export."""
    try:
        with temporary_beside(where / ".legsup-probe", prefix=".legsup-probe-", suffix=""):
            pass
    except OSError as exc:
        message = f"--to {folder}: {explain(exc, where, '--to')}"
        if exc.errno in _MACHINE_STATE:  # a write-protected card or a full one: the machine's state, exit 1
            raise OutputError(message) from None
        raise UsageError(message) from None  # a folder no one may write to (/proc, no permission): a bad --to


#: Why a folder that would take files cannot take them now: reported as a failure to write
#: (exit 1, as when it happens during the copy), not as a bad option.
_MACHINE_STATE = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def _digest(path: Path) -> bytes:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").digest()


def same_content(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` have the same size and the same SHA-256."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return _digest(a) == _digest(b)
    except OSError:
        return False


def _copy_one(source: Path, target: Path) -> None:
    with temporary_beside(target) as tmp:
        with source.open("rb") as src, open(tmp, "wb") as dst:
            checkpoint("copying")
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())  # on the card before it has its real name
        with contextlib.suppress(OSError):  # FAT/exFAT mounts may refuse modes and times
            shutil.copystat(source, tmp)
        os.replace(tmp, target)


def copy_files(files: Sequence[Path], folder: Path, *, force: bool = False) -> CopyReport:
    """Copy ``files`` into ``folder`` (by name), skipping identical ones already there.

    Every target is checked before anything is copied (``check_target``): never one of
    ``files`` itself, a device, FIFO or folder, nor read-only unless ``force``."""
    check_destination(folder)
    for source in files:
        target = folder / source.name
        if not (target.is_file() and same_content(source, target)):
            check_target(target, inputs=files, option="--to", force=force)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(explain(exc, folder, "--to")) from None
    job = current()
    if job is not None:
        job.copy_to, job.copy_total, job.copied = folder, len(files), 0
    copied: list[Path] = []
    skipped: list[Path] = []
    for source in files:
        target = folder / source.name
        if target.is_file() and same_content(source, target):
            skipped.append(target)
        else:
            if job is not None:
                job.writing(target)
            try:
                _copy_one(source, target)
            except OSError as exc:
                raise OutputError(f"cannot copy {source.name} to {folder}: {explain(exc, folder, '--to')}") from None
            copied.append(target)
        if job is not None:
            job.copied += 1
            job.target = None
    return CopyReport(folder, tuple(copied), tuple(skipped))
