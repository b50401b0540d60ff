"""Writing files so that nothing half-made ever sits at the target path: the one atomic writer.

Owns the temporary-file-and-rename rule: work is written beside the target
(same folder, so the rename is atomic), renamed into place only when complete,
and removed on any failure or interrupt, leaving an existing file untouched.
The temporary file is created before any work starts, so an unwritable folder
fails at once, not after a long render.  Every file the program writes goes
through :func:`temporary_beside` (exports, sidecars, playlists, copies to a phone,
the clip cache, kept analyses, new scripts), so this module is a shared leaf: it
imports only ``errors`` and ``checkpoint``, and any stage may use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from legsup_audio.checkpoint import signals_held
from legsup_audio.errors import OutputError, UsageError, one_line

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


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _absolute(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def read_only(path: Path) -> bool:
    """True when ``path`` (an existing file) has no write permission for its owner, or not for us.

    The mode bits are read as well as ``os.access``, which says yes to root for any file.  A file
    on a file system mounted read-only is not "read-only" in this sense: that is the machine's
    state, not the user's choice, and writing reports it (exit 1)."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        return False
    if not info.st_mode & stat.S_IWUSR:
        return True
    if os.access(path, os.W_OK):
        return False
    try:
        return not os.statvfs(path).f_flag & os.ST_RDONLY
    except OSError:
        return True


def check_target(target: Path, *, inputs: Iterable[Path | None] = (), option: str = "-o",
                 force: bool = False, folder_hint: str = "give a file name") -> None:
    """Refuse an output path that writing could turn into a loss, before any work is done.

    ``target`` may be a new name or an existing regular file (a link to one is followed);
    it is refused, as a ``UsageError`` (exit 2) naming ``option``, when it is one of
    ``inputs`` (the script, its cover, its music: files this run reads), a folder, device,
    FIFO or socket (or a link to one, or a link to nothing), or read-only (unless ``force``).
    Nothing is created or changed here.
    """
    shown = one_line(f"{option} {target}" if option else str(target))
    absolute = _absolute(target)
    for path in inputs:
        if path is None:
            continue
        if _same_file(target, path) or absolute == _absolute(path):
            raise UsageError(f"{shown} would overwrite {one_line(str(path))}, an input of this command; "
                             f"give another file name")
    try:
        link = target.is_symlink()
        info = target.stat()
    except FileNotFoundError:
        if link:
            raise UsageError(f"{shown} is a link to a file that does not exist ({one_line(os.readlink(target))}); "
                             f"remove the link or give another file name") from None
        return  # a new name
    except ValueError:
        raise UsageError(f"{shown}: a file name cannot hold a NUL character") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise UsageError(f"{shown}: the name is too long for the file system; give a shorter one") from None
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{shown} is a link that loops; remove it or give another file name") from None
        return  # a file where a folder should be, a folder we may not search: writing says what is wrong (exit 1)
    if not stat.S_ISREG(info.st_mode):
        what = _kind(info.st_mode)
        via = f" (a link to {one_line(os.path.realpath(target))})" if link else ""
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{shown}{via} is a folder; {folder_hint}")
        raise UsageError(f"{shown}{via} is {what}, not a regular file: writing there would replace it; "
                         f"give a file name")
    if not force and read_only(target):
        raise UsageError(f"{shown} is read-only; pass --force to replace it anyway, or give another file name")


def ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(explain(exc, folder)) from None


@contextlib.contextmanager
def temporary_beside(target: Path, *, prefix: str | None = None, suffix: str | None = None) -> Iterator[Path]:
    """A new, empty temporary file in ``target``'s folder, removed when the block ends
    unless the caller renamed (or linked) it into place.

    Its name is unique (``.STEM.XXXX.partSUFFIX`` unless ``prefix``/``suffix`` say
    otherwise), and it is created while stop signals are held, so that none can fall
    between creating the file and knowing its name.  ``OSError`` propagates: each caller
    decides what a failure means (a clean error, or only a lost cache entry).
    """
    folder = target.parent if str(target.parent) else Path(".")
    prefix = _fit(f".{target.stem}." if prefix is None else prefix, 120)  # with the suffix, under any name limit
    suffix = _fit(f".part{target.suffix}" if suffix is None else suffix, 40)
    with signals_held():
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
        os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (a temporary name must fit where its target fits)."""
    data = os.fsencode(text)
    if len(data) <= limit:
        return text
    return os.fsdecode(data[:limit]).encode("utf-8", "surrogateescape").decode("utf-8", "ignore") or "."


def replace_with(target: Path, write: Callable[[BinaryIO], object], *, prefix: str | None = None,
                 suffix: str | None = None, sync: bool = False) -> None:
    """Write ``target`` in one step: ``write`` fills a temporary file beside it (flushed to
    the disk first when ``sync``), which then replaces ``target``.  ``OSError`` propagates."""
    with temporary_beside(target, prefix=prefix, suffix=suffix) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed onto it when the block succeeds.

    Every failure is an ``OutputError`` that says what to do (a folder given as the
    file, an unwritable or full folder)."""
    if target.is_symlink() and target.is_file():
        target = Path(os.path.realpath(target))  # a link to a file: the file is replaced, the link kept
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name with -o")
    with contextlib.suppress(OSError, ValueError):
        info = target.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{target} is {_kind(info.st_mode)}, not a regular file: writing there would "
                             f"replace it; give a file name")
    ensure_folder(folder)
    sweep_stale(target)
    with contextlib.ExitStack() as stack:
        try:
            tmp = stack.enter_context(temporary_beside(target))
        except OSError as exc:
            raise OutputError(explain(exc, folder)) from None
        yield tmp
        try:
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(explain(exc, folder)) from None


#: A temporary file beside a target older than this was left by a killed process (SIGKILL): swept.
STALE_SECONDS = 600


def sweep_stale(target: Path, now: float | None = None) -> list[Path]:
    """Remove the temporary files a killed run left beside ``target`` (``.STEM.XXXX.partSUFFIX``,
    older than ``STALE_SECONDS``); only this target's own pattern, never anything else."""
    import time

    folder = target.parent if str(target.parent) else Path(".")
    prefix, suffix = _fit(f".{target.stem}.", 120), _fit(f".part{target.suffix}", 40)
    now = time.time() if now is None else now
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(suffix) and len(name) == len(prefix) + 8 + len(suffix)):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_SECONDS:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        try:
            tmp.write_text(text, encoding="utf-8", newline="\n")
        except OSError as exc:
            raise OutputError(explain(exc, target.parent)) from None


def _mode_for(target: Path) -> int:
    """The mode a new ``target`` gets: the old file's when it replaces one, else rw-r--r-- less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except (OSError, ValueError):
        return 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
