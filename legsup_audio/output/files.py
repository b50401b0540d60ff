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

from legsup_audio.checkpoint import signals_held
from legsup_audio.errors import OutputError

#: errno values that mean "no room": a full disk, a full quota, or a file past the size limit.
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def explain(exc: OSError, folder: Path, option: str = "-o") -> str:
    """What an ``OSError`` met while writing into ``folder`` means to a user, and what to do."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write to {folder}: permission denied; choose another place with {option}"
    if exc.errno == errno.EROFS:
        return f"cannot write to {folder}: it is on a read-only file system; choose another place with {option}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {folder} is full; free some space or choose another place with {option}"
    if exc.errno == errno.EFBIG:
        return (f"cannot write to {folder}: the file is larger than this system lets a file grow (`ulimit -f`, "
                f"or the file system's largest file); raise the limit or choose another place with {option}")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{folder} is not a folder; choose another place with {option}"
    return f"cannot write to {folder}: {exc.strerror or exc}; choose another place with {option}"


def os_error_in(exc: BaseException) -> OSError | None:
    """The ``OSError`` behind ``exc``: itself, or one a library (mutagen) wrapped it around."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.errno is not None:
            return item
        todo.extend([*item.args, item.__cause__, item.__context__])
    return None


def ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(explain(exc, folder)) from None


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed onto it when the block succeeds."""
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name with -o")
    ensure_folder(folder)
    tmp: Path | None = None
    try:
        # Held so that a stop signal cannot fall between creating the file and knowing its name.
        with signals_held():
            try:
                fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target.stem}.", suffix=f".part{target.suffix}")
            except OSError as exc:
                raise OutputError(explain(exc, folder)) from None
            os.close(fd)
            tmp = Path(name)
        yield tmp
        try:
            os.chmod(tmp, 0o644 & ~_umask())
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(explain(exc, folder)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        try:
            tmp.write_text(text, encoding="utf-8", newline="\n")
        except OSError as exc:
            raise OutputError(explain(exc, target.parent)) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
