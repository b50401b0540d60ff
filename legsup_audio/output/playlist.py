"""Playlists and file names for multi-track exports copied onto a phone.

This module owns the text of the ``.m3u8`` playlist (UTF-8, relative paths,
``#EXTINF`` with duration and title) and the numbered track file names
(``01 - Title.mp3``) made safe for FAT/exFAT phone storage.  It only builds
strings; the exporter decides where and when to write them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

#: Longest file name produced, in characters (FAT/exFAT allow 255 UTF-16 units;
#: staying well under leaves room for copy tools that add suffixes).
MAX_NAME = 120
#: Characters FAT/exFAT refuse, and what each becomes.
_UNSAFE = {c: "_" for c in "<>:/\\|?*"} | {'"': "'"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def m3u8_text(entries: Sequence[tuple[str, int, str]]) -> str:
    """An extended M3U playlist from ``(relative path, duration ms, title)`` entries.

    Durations are whole seconds (rounded), as players expect; paths use ``/``.
    """
    lines = ["#EXTM3U"]
    for path, duration_ms, title in entries:
        seconds = (max(0, duration_ms) + 500) // 1000
        lines.append(f"#EXTINF:{seconds},{_one_line(title)}")
        lines.append(path.replace("\\", "/"))
    return "\n".join(lines) + "\n"


def safe_name(text: str) -> str:
    """``text`` with characters FAT/exFAT refuse replaced; unicode letters kept."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = "".join(_UNSAFE.get(c, c) for c in text)
    return _one_line(text)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def track_filename(index: int, title: str, ext: str) -> str:
    """``01 - Title.mp3``: numbered, FAT/exFAT-safe, at most :data:`MAX_NAME` characters."""
    if index < 0:
        raise ValueError(f"track index must be 0 or more, not {index}")
    ext = ext.lstrip(".")
    prefix = f"{index:02d} - "
    suffix = f".{safe_name(ext)}" if ext else ""
    stem = safe_name(title).rstrip(". ")
    room = MAX_NAME - _utf16_len(prefix) - _utf16_len(suffix)
    while stem and _utf16_len(stem) > room:
        stem = stem[:-1]
    stem = stem.rstrip(". ") or "Untitled"
    return f"{prefix}{stem}{suffix}"
