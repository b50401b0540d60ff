"""What a shared folder holds: the files that may be served, and each track read back from its tags.

Owns two things.  Which files of one folder may leave the machine: regular files
directly in the folder, with an audio or caption suffix, whose name does not start
with a dot (an export in progress is a dotfile) and whose real path, symlinks
resolved, is inside the folder.  And what each track says about itself (title,
artist, album, language, duration, chapters, cover, track number), read with mutagen from the
file, so the feed always describes the bytes it serves; tracks are cached by the
file's identity (inode, size, mtime), so a feed request re-reads only what changed.
It never writes a file and never opens a socket.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.flac import Picture
from mutagen.mp4 import MP4Cover

#: Content types of what may be served, by suffix.
AUDIO_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".m4b": "audio/mp4", ".ogg": "audio/ogg", ".wav": "audio/wav"}
TEXT_TYPES = {".vtt": "text/vtt; charset=utf-8", ".lrc": "text/plain; charset=utf-8"}
SERVED_TYPES = {**AUDIO_TYPES, **TEXT_TYPES}

_CHAPTER_KEY = re.compile(r"CHAPTER(\d+)", re.IGNORECASE)
_VORBIS_TIME = re.compile(r"(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class FileRef:
    """One servable file: its name in the folder, real path and identity when it was found."""

    name: str
    path: Path
    size: int
    mtime_ns: int
    device: int
    inode: int
    content_type: str

    @property
    def etag(self) -> str:
        """A strong validator: a re-export is a new file (renamed into place), so a new inode and mtime."""
        return f'"{self.inode:x}-{self.size:x}-{self.mtime_ns:x}"'

    @property
    def suffix(self) -> str:
        return os.path.splitext(self.name)[1].lower()


@dataclass(frozen=True, slots=True)
class Chapter:
    start: int  # ms
    end: int  # ms
    title: str


@dataclass(frozen=True, slots=True)
class Track:
    """An audio file as its own tags describe it."""

    file: FileRef
    title: str
    artist: str | None
    album: str | None
    duration: int  # ms
    chapters: tuple[Chapter, ...]
    cover: bytes | None
    cover_mime: str | None
    number: int | None
    transcript: FileRef | None  # NAME.vtt beside it
    language: str | None = None  # as tagged (ID3 TLAN, MP4 and Vorbis LANGUAGE): ISO 639-2, e.g. spa

    @property
    def cover_suffix(self) -> str:
        return ".jpg" if self.cover_mime == "image/jpeg" else ".png"


class Folder:
    """The shared folder; every call looks at it afresh, so new exports appear at once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self._tracks: dict[tuple[str, int, int, int], Track] = {}
        self._lock = threading.Lock()

    def files(self) -> dict[str, FileRef]:
        """Every file that may be served, by name."""
        found: dict[str, FileRef] = {}
        with os.scandir(self.root) as entries:
            for entry in entries:
                ref = self._servable(entry.name)
                if ref is not None:
                    found[ref.name] = ref
        return found

    def _servable(self, name: str) -> FileRef | None:
        content_type = SERVED_TYPES.get(os.path.splitext(name)[1].lower())
        if content_type is None or name.startswith(".") or not _url_safe(name):
            return None
        real = Path(os.path.realpath(self.root / name))
        if self.root not in real.parents or any(part.startswith(".") for part in real.relative_to(self.root).parts):
            return None  # a symlink out of the folder, or to a dotfile in it
        try:
            st = os.stat(real)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return FileRef(name, real, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, content_type)

    def tracks(self) -> list[Track]:
        """The audio files, newest first (then by name)."""
        files = self.files()
        refs = [ref for ref in files.values() if ref.suffix in AUDIO_TYPES]
        tracks = [self._track(ref, files.get(os.path.splitext(ref.name)[0] + ".vtt")) for ref in refs]
        with self._lock:
            keep = {_key(t.file) for t in tracks}
            for key in [k for k in self._tracks if k not in keep]:
                del self._tracks[key]
        return sorted(tracks, key=lambda t: (-t.file.mtime_ns, t.file.name))

    def track(self, name: str) -> Track | None:
        return next((t for t in self.tracks() if t.file.name == name), None)

    def _track(self, ref: FileRef, transcript: FileRef | None) -> Track:
        key = _key(ref)
        with self._lock:
            cached = self._tracks.get(key)
        if cached is not None and cached.transcript == transcript:
            return cached
        track = read_track(ref, transcript)
        with self._lock:
            self._tracks[key] = track
        return track


def _key(ref: FileRef) -> tuple[str, int, int, int]:
    return ref.name, ref.inode, ref.size, ref.mtime_ns


def _url_safe(name: str) -> bool:
    """Names that are not valid UTF-8 (undecodable bytes) or hold control characters are not served."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return name.isprintable()


# --------------------------------------------------------------------------- reading tags


def read_track(ref: FileRef, transcript: FileRef | None = None) -> Track:
    """``ref`` as its tags describe it; a file mutagen cannot read is named after its file name."""
    fields: dict[str, Any] = {}
    duration = 0
    try:
        audio = mutagen.File(ref.path)
    except (mutagen.MutagenError, OSError, ValueError):
        audio = None
    if audio is not None:
        duration = round(1000 * (getattr(audio.info, "length", 0) or 0))
        tags = audio.tags
        if ref.suffix == ".mp3" and tags is not None:
            fields = _id3_fields(tags)
        elif ref.suffix in (".m4a", ".m4b"):
            fields = _mp4_fields(audio)
        elif ref.suffix == ".ogg" and tags is not None:
            fields = _vorbis_fields(tags)
    starts: list[tuple[int, int | None, str]] = fields.get("chapters", [])
    chapters = tuple(
        Chapter(start, end if end is not None else (starts[i + 1][0] if i + 1 < len(starts) else duration), title)
        for i, (start, end, title) in enumerate(starts)
    )
    return Track(
        file=ref,
        title=fields.get("title") or os.path.splitext(ref.name)[0],
        artist=fields.get("artist"),
        album=fields.get("album"),
        duration=duration,
        chapters=chapters,
        cover=fields.get("cover"),
        cover_mime=fields.get("cover_mime"),
        number=fields.get("number"),
        transcript=transcript,
        language=fields.get("language"),
    )


def _number(text: str | None) -> int | None:
    head = (text or "").split("/")[0].strip()
    return int(head) if head.isascii() and head.isdigit() else None


def _id3_fields(tags: Any) -> dict[str, Any]:
    def text(frame_id: str) -> str | None:
        frame = tags.get(frame_id)
        return str(frame.text[0]) if frame is not None and frame.text else None

    fields: dict[str, Any] = {"title": text("TIT2"), "artist": text("TPE1"), "album": text("TALB"),
                              "number": _number(text("TRCK")), "language": text("TLAN")}
    pictures = sorted(tags.getall("APIC"), key=lambda p: p.type != 3)  # the front cover first
    if pictures:
        fields["cover"], fields["cover_mime"] = pictures[0].data, pictures[0].mime
    chapters = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    fields["chapters"] = [
        (c.start_time, c.end_time, str(c.sub_frames["TIT2"].text[0]) if "TIT2" in c.sub_frames else "")
        for c in chapters
    ]
    return fields


def _mp4_fields(audio: Any) -> dict[str, Any]:
    tags = audio.tags or {}

    def first(key: str) -> Any:
        values = tags.get(key)
        return values[0] if values else None

    track = first("trkn")
    language = first("----:com.apple.iTunes:LANGUAGE")
    fields: dict[str, Any] = {"title": first("\xa9nam"), "artist": first("\xa9ART"), "album": first("\xa9alb"),
                              "number": track[0] if track and track[0] else None,
                              "language": bytes(language).decode("utf-8", "replace") if language is not None else None}
    cover = first("covr")
    if cover is not None:
        fields["cover"] = bytes(cover)
        fields["cover_mime"] = "image/jpeg" if cover.imageformat == MP4Cover.FORMAT_JPEG else "image/png"
    chapters = getattr(audio, "chapters", None) or []
    fields["chapters"] = [(round(1000 * c.start), None, c.title) for c in chapters]  # the Nero chpl box
    return fields


def _vorbis_fields(tags: Any) -> dict[str, Any]:
    def first(key: str) -> str | None:
        values = tags.get(key)
        return values[0] if values else None

    fields: dict[str, Any] = {"title": first("title"), "artist": first("artist"), "album": first("album"),
                              "number": _number(first("tracknumber")), "language": first("language")}
    block = first("metadata_block_picture")
    if block:
        try:
            picture = Picture(base64.b64decode(block))
            fields["cover"], fields["cover_mime"] = picture.data, picture.mime
        except (ValueError, mutagen.MutagenError):
            pass
    numbered = []
    for key in tags.keys():
        match = _CHAPTER_KEY.fullmatch(key)
        time = _VORBIS_TIME.fullmatch(first(key) or "") if match else None
        if match and time:
            ms = round(1000 * (int(time[1]) * 3600 + int(time[2]) * 60 + float(time[3])))
            numbered.append((int(match[1]), ms, first(f"{key}NAME") or ""))
    fields["chapters"] = [(ms, None, title) for _, ms, title in sorted(numbered)]
    return fields
