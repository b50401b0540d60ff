"""Export: a compiled session to a finished, tagged audio file.

Owns the order of the export job (claim the target, render and master, encode
into a temporary file, tag it, rename it into place) so that the target path
holds either the previous file or the complete new one, never a half-made one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from legsup_audio.encode import FORMATS, encode, find_ffmpeg
from legsup_audio.master import TARGET_LUFS, Loudness
from legsup_audio.output import atomic_path
from legsup_audio.pipeline import Session, mastered
from legsup_audio.tags import TrackMeta, write_tags

DEFAULT_FOLDER = Path("output")
ALBUM = "legsup-audio"


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    duration_ms: int
    loudness_before: Loudness
    gain_db: float
    channels: int


def default_path(session: Session, fmt: str = "mp3", folder: Path = DEFAULT_FOLDER) -> Path:
    return folder / f"{session.script.id}{FORMATS[fmt].suffix}"


def export_session(
    session: Session,
    dest: Path,
    *,
    fmt: str = "mp3",
    bitrate: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Write ``session`` to ``dest``; ``dest`` changes only when everything succeeded."""
    find_ffmpeg()  # fail before any work when the encoder is missing
    with atomic_path(dest) as tmp:
        source, loudness = mastered(session, TARGET_LUFS + FORMATS[fmt].loudness_loss_db)
        encode(source, tmp, fmt, bitrate, progress)
        timeline = session.timeline
        meta = TrackMeta(title=timeline.title, artist=timeline.author or ALBUM, album=ALBUM)
        write_tags(tmp, fmt, timeline, meta)
    return ExportResult(dest, timeline.duration, loudness, source.gain_db, source.channels)
