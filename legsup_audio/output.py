"""Writing files so that nothing half-made ever sits at the target path.

Owns the temporary-file-and-rename rule: work is written beside the target
(same folder, so the rename is atomic), renamed into place only when complete,
and removed on any failure or interrupt, leaving an existing file untouched.
The temporary file is created before any work starts, so an unwritable folder
fails at once, not after a long render.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from legsup_audio.errors import OutputError


def _explain(exc: OSError, folder: Path) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {folder}: permission denied; choose another place with -o"
    if exc.errno == errno.ENOSPC:
        return f"the disk holding {folder} is full; free some space or choose another place with -o"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{folder} is not a folder; choose another place with -o"
    return f"cannot write to {folder}: {exc.strerror or exc}"


def ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(_explain(exc, folder)) from None


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed onto it when the block succeeds."""
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name with -o")
    ensure_folder(folder)
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target.stem}.", suffix=f".part{target.suffix}")
    except OSError as exc:
        raise OutputError(_explain(exc, folder)) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            os.chmod(tmp, 0o644 & ~_umask())
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(_explain(exc, folder)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        try:
            tmp.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputError(_explain(exc, target.parent)) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
