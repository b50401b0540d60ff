"""Metadata for exported audio: tags, chapters, lyrics and cover art, via mutagen.

This module owns what a phone's player shows about a finished file: ID3v2.4 on MP3
(text frames, APIC cover, one CHAP per step under a single top-level ordered CTOC,
the full cue text as USLT lyrics), iTunes atoms on M4A/M4B (whose chapters ffmpeg
writes from :func:`ffmetadata_text` while encoding), and Vorbis comments on
Ogg Vorbis/Opus (including ``METADATA_BLOCK_PICTURE`` and ``CHAPTERnnn`` chapter
comments).  Every format gets the same facts: the text's language (ISO 639-2 where
a tag wants three letters), lyrics as a person reads them (no inline pause marks),
chapters that tile the file (:func:`chapters`: the first from 0, the last to the
end), and ReplayGain track gain and peak from the loudness measured while encoding.
It only edits the tags of a file that already exists; it never encodes, renders or
renames audio (the exporter tags its temporary file before the atomic rename).  Times
come from the :class:`~legsup_audio.compile.timeline.Timeline` in integer milliseconds.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.flac import Picture
from mutagen.id3 import (
    APIC,
    CHAP,
    CTOC,
    ID3,
    TALB,
    TCON,
    TDRC,
    TIT2,
    TLAN,
    TLEN,
    TPE1,
    TPE2,
    TRCK,
    TXXX,
    USLT,
    CTOCFlags,
    Encoding,
    ID3NoHeaderError,
    PictureType,
)
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from legsup_audio.compile.timeline import Timeline
from legsup_audio.script.languages import iso639_2
from legsup_audio.units import timestamp

#: The USLT language when the text's language is not known (the ID3 standard's "unknown").
UNKNOWN_LANG = "XXX"
#: ReplayGain 2.0's reference loudness: a track's gain brings it to this.
REPLAYGAIN_REFERENCE_LUFS = -18.0
#: The ReplayGain keys (Vorbis comments; TXXX descriptions in ID3; iTunes freeform names in MP4).
RG_GAIN, RG_PEAK = "REPLAYGAIN_TRACK_GAIN", "REPLAYGAIN_TRACK_PEAK"
#: iTunes freeform atoms live under this mean; MP4 readers look for the lowercase names.
_ITUNES_FREEFORM = "----:com.apple.iTunes:"
#: The freeform atom of the text's language in MP4 (as MusicBrainz Picard writes it).
MP4_LANGUAGE = "LANGUAGE"
#: Element id of the one top-level table of contents.
TOC_ID = "toc"
#: ID3 frames this module owns; they are replaced, every other frame is kept.
_OWNED_ID3 = (
    "TIT2",
    "TPE1",
    "TALB",
    "TPE2",
    "TCON",
    "TDRC",
    "TRCK",
    "TLEN",
    "TLAN",
    "APIC",
    "CHAP",
    "CTOC",
    "USLT",
)
#: Vorbis comment keys this module owns (plus every ``CHAPTERnnn...`` key).
_OWNED_VORBIS = (
    "title",
    "artist",
    "album",
    "genre",
    "date",
    "tracknumber",
    "tracktotal",
    "totaltracks",
    "lyrics",
    "language",
    "albumartist",
    "replaygain_track_gain",
    "replaygain_track_peak",
    "metadata_block_picture",
)


@dataclass(frozen=True, slots=True)
class TrackMeta:
    """What to call a track: the tag values that do not come from the timeline."""

    title: str
    artist: str
    album: str = "legsup-audio"
    genre: str = "Meditation"
    year: int | None = None
    track: int | None = None
    track_total: int | None = None
    cover: bytes | None = None
    cover_mime: str = "image/png"
    album_artist: str | None = None  # one per album, so a phone does not split a batch by artist
    #: The file's measured integrated loudness (LUFS) and sample peak (dBFS), for ReplayGain; None: not measured.
    loudness: tuple[float, float] | None = None
    #: Where the last chapter ends, in ms: the encoded file's own length (None: the timeline's).
    length_ms: int | None = None

    def replaygain(self) -> tuple[str, str] | None:
        """``("-3.42 dB", "0.794328")``: the track gain to the -18 LUFS reference and the linear
        sample peak, as ReplayGain tags write them; None when not measured (or silent)."""
        if self.loudness is None:
            return None
        lufs, peak_db = self.loudness
        if not (math.isfinite(lufs) and math.isfinite(peak_db)):
            return None
        return f"{REPLAYGAIN_REFERENCE_LUFS - lufs:+.2f} dB", f"{10 ** (peak_db / 20):.6f}"


@dataclass(frozen=True, slots=True)
class Chapter:
    """A chapter as written into a file: a step's title over a span of the file."""

    start: int  # ms
    end: int  # ms
    title: str


def chapters(timeline: Timeline, length_ms: int | None = None) -> list[Chapter]:
    """One chapter per step, tiling the file: the first starts at 0 (the lead-in belongs to
    the first step), each ends where the next starts, and the last ends at ``length_ms``
    (the file's end; default the timeline's duration), so the tail belongs to the last step.
    A player then always has a chapter to show, and skipping never lands between two."""
    end = timeline.duration if length_ms is None else length_ms
    steps = timeline.steps
    starts = [0, *(step.start for step in steps[1:])]
    ends = [*starts[1:], max(end, starts[-1] if starts else 0)]
    return [Chapter(a, b, " ".join(step.title.split())) for a, b, step in zip(starts, ends, steps)]


class _ChapterOrderID3(ID3):
    """ID3 that stores CHAP frames in chapter order.

    mutagen orders frames of equal importance by their size, so chapters would
    land in the file shuffled.  Players that read CHAP frames without the CTOC
    (ffmpeg-based ones among them) list chapters in file order, so the CHAP
    frames are written last, sorted by start time.
    """

    def _write(self, config: Any) -> bytes:
        chapters = self.getall("CHAP")
        try:
            from mutagen.id3._tags import save_frame
        except ImportError:  # mutagen moved its internals: keep its own order
            return bytes(super()._write(config))
        if not chapters:
            return bytes(super()._write(config))
        self.delall("CHAP")
        try:
            head = bytes(super()._write(config))
        finally:
            for frame in chapters:
                self.add(frame)
        ordered = sorted(chapters, key=lambda f: (f.start_time, f.element_id))
        return head + b"".join(bytes(save_frame(f, config=config)) for f in ordered)


def chapter_id(index: int) -> str:
    """The CHAP element id of the ``index``-th step (0-based): ``chp0``, ``chp1``, ..."""
    return f"chp{index}"


def lyrics_text(timeline: Timeline) -> str:
    """The whole cue text: one line per spoken cue, a blank line between steps."""
    blocks: list[list[str]] = []
    last_step: str | None = None
    for event in timeline.speech():
        text = event.caption
        if not text:
            continue
        if event.step != last_step or not blocks:
            blocks.append([])
            last_step = event.step
        blocks[-1].append(text)
    return "\n\n".join("\n".join(block) for block in blocks)


def _track_string(meta: TrackMeta) -> str | None:
    if meta.track is None:
        return None
    if meta.track_total is not None:
        return f"{meta.track}/{meta.track_total}"
    return str(meta.track)


def id3_language(timeline: Timeline) -> str:
    """The three letters ID3 wants (``spa``), or ``XXX`` when the text's language is unknown."""
    return iso639_2(timeline.language) or UNKNOWN_LANG


def _mime(meta: TrackMeta) -> str:
    mime = meta.cover_mime.lower()
    if mime == "image/jpg":
        mime = "image/jpeg"
    if mime not in ("image/png", "image/jpeg"):
        raise ValueError(f"cover art must be image/png or image/jpeg, not {meta.cover_mime!r}")
    return mime


# --------------------------------------------------------------------------- MP3 / ID3


def write_id3(path: str | Path, timeline: Timeline, meta: TrackMeta) -> None:
    """Write ID3v2.4 tags, cover, chapters (CHAP + CTOC) and lyrics onto an MP3.

    Frames this module owns are replaced; others already in the file (for example
    the encoder's ``TSSE``) are kept.  Each step becomes ``chp<i>`` with its start
    and end in ms and an embedded ``TIT2`` holding the step title.
    """
    path = Path(path)
    try:
        tags = _ChapterOrderID3(path)
    except ID3NoHeaderError:
        tags = _ChapterOrderID3()
    for frame_id in _OWNED_ID3:
        tags.delall(frame_id)

    utf8 = Encoding.UTF8
    tags.add(TIT2(encoding=utf8, text=[meta.title]))
    tags.add(TPE1(encoding=utf8, text=[meta.artist]))
    tags.add(TALB(encoding=utf8, text=[meta.album]))
    if meta.album_artist is not None:
        tags.add(TPE2(encoding=utf8, text=[meta.album_artist]))
    tags.add(TCON(encoding=utf8, text=[meta.genre]))
    if meta.year is not None:
        tags.add(TDRC(encoding=utf8, text=[str(meta.year)]))
    track = _track_string(meta)
    if track is not None:
        tags.add(TRCK(encoding=utf8, text=[track]))
    tags.add(TLEN(encoding=utf8, text=[str(meta.length_ms or timeline.duration)]))
    language = id3_language(timeline)
    if language != UNKNOWN_LANG:
        tags.add(TLAN(encoding=utf8, text=[language]))
    for frame in tags.getall("TXXX"):
        if frame.desc.upper() in (RG_GAIN, RG_PEAK):
            tags.delall(frame.HashKey)
    if (replaygain := meta.replaygain()) is not None:
        for key, value in zip((RG_GAIN, RG_PEAK), replaygain):
            tags.add(TXXX(encoding=utf8, desc=key, text=[value]))
    if meta.cover is not None:
        tags.add(
            APIC(
                encoding=utf8,
                mime=_mime(meta),
                type=PictureType.COVER_FRONT,
                desc="Cover",
                data=meta.cover,
            )
        )

    child_ids: list[str] = []
    for i, chapter in enumerate(chapters(timeline, meta.length_ms)):
        element_id = chapter_id(i)
        child_ids.append(element_id)
        tags.add(
            CHAP(
                element_id=element_id,
                start_time=chapter.start,
                end_time=chapter.end,
                start_offset=0xFFFFFFFF,
                end_offset=0xFFFFFFFF,
                sub_frames=[TIT2(encoding=utf8, text=[chapter.title])],
            )
        )
    if child_ids:
        tags.add(
            CTOC(
                element_id=TOC_ID,
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=child_ids,
                sub_frames=[TIT2(encoding=utf8, text=[timeline.title])],
            )
        )

    lyrics = lyrics_text(timeline)
    if lyrics:
        tags.add(USLT(encoding=utf8, lang=language, desc="", text=lyrics))

    tags.save(path, v2_version=4)


# --------------------------------------------------------------------------- M4A


#: AntennaPod reads a ``chpl`` title's length as a signed byte: longer titles are cut to this many bytes.
MP4_CHAPTER_TITLE_BYTES = 127


def _ffmetadata_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "=;#\\" else ch for ch in text)


def ffmetadata_text(timeline: Timeline) -> str:
    """The steps as chapters (:func:`chapters`) in ffmpeg's FFMETADATA format (ms), for ffmpeg
    to write into M4A/M4B.

    Titles are cut at a character boundary to :data:`MP4_CHAPTER_TITLE_BYTES` UTF-8 bytes.
    """
    lines = [";FFMETADATA1"]
    for chapter in chapters(timeline):
        title = chapter.title.encode("utf-8")[:MP4_CHAPTER_TITLE_BYTES].decode("utf-8", "ignore")
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={chapter.start}", f"END={chapter.end}",
                  f"title={_ffmetadata_escape(title)}"]
    return "\n".join(lines) + "\n"


def write_mp4_tags(path: str | Path, timeline: Timeline, meta: TrackMeta) -> None:
    """Write iTunes-style atoms (title, artist, album, album artist, genre, year, track,
    lyrics, cover), the ReplayGain freeform atoms, and the audio track's language.

    Chapters are not written here (mutagen cannot write MP4 chapter tracks): ffmpeg
    writes them while encoding, from :func:`ffmetadata_text`, and saving keeps them.
    """
    audio = MP4(Path(path))
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    assert tags is not None
    tags["\xa9nam"] = [meta.title]
    tags["\xa9ART"] = [meta.artist]
    tags["\xa9alb"] = [meta.album]
    if meta.album_artist is not None:
        tags["aART"] = [meta.album_artist]
    tags["\xa9gen"] = [meta.genre]
    if meta.year is not None:
        tags["\xa9day"] = [str(meta.year)]
    if meta.track is not None:
        tags["trkn"] = [(meta.track, meta.track_total or 0)]
    lyrics = lyrics_text(timeline)
    if lyrics:
        tags["\xa9lyr"] = [lyrics]
    if meta.cover is not None:
        fmt = MP4Cover.FORMAT_PNG if _mime(meta) == "image/png" else MP4Cover.FORMAT_JPEG
        tags["covr"] = [MP4Cover(meta.cover, imageformat=fmt)]
    owned = {(_ITUNES_FREEFORM + key).lower() for key in (RG_GAIN, RG_PEAK, MP4_LANGUAGE)}
    for key in [key for key in tags.keys() if key.lower() in owned]:
        del tags[key]
    if (replaygain := meta.replaygain()) is not None:
        for key, value in zip((RG_GAIN, RG_PEAK), replaygain):
            tags[_ITUNES_FREEFORM + key.lower()] = [MP4FreeForm(value.encode("utf-8"))]
    if (language := iso639_2(timeline.language)) is not None:  # readable beside the track header's (mdhd)
        tags[_ITUNES_FREEFORM + MP4_LANGUAGE] = [MP4FreeForm(language.encode("utf-8"))]
    audio.save()


# --------------------------------------------------------------------------- Ogg


def _picture_block(meta: TrackMeta) -> str:
    """A base64 FLAC picture block for ``METADATA_BLOCK_PICTURE``."""
    assert meta.cover is not None
    pic = Picture()
    pic.type = PictureType.COVER_FRONT
    pic.mime = _mime(meta)
    pic.desc = "Cover"
    pic.data = meta.cover
    try:
        from PIL import Image

        with Image.open(io.BytesIO(meta.cover)) as img:
            pic.width, pic.height = img.size
            pic.depth = 8 * len(img.getbands())
    except (ImportError, OSError):
        pass  # width/height/depth are optional hints (0 = unknown)
    return base64.b64encode(pic.write()).decode("ascii")


def write_ogg_tags(path: str | Path, timeline: Timeline, meta: TrackMeta) -> None:
    """Write Vorbis comments on an Ogg Vorbis or Ogg Opus file.

    Chapters use the Vorbis chapter extension: ``CHAPTER001=HH:MM:SS.mmm`` and
    ``CHAPTER001NAME=<step title>``, numbered from 001.
    """
    path = Path(path)
    audio = mutagen.File(path, options=[OggVorbis, OggOpus])
    if audio is None:
        raise ValueError(f"{path} is not an Ogg Vorbis or Ogg Opus file")
    tags = audio.tags
    assert tags is not None
    for key in list(tags.keys()):
        low = key.lower()
        if low in _OWNED_VORBIS or low.startswith("chapter"):
            del tags[key]
    tags["TITLE"] = [meta.title]
    tags["ARTIST"] = [meta.artist]
    tags["ALBUM"] = [meta.album]
    if meta.album_artist is not None:
        tags["ALBUMARTIST"] = [meta.album_artist]
    tags["GENRE"] = [meta.genre]
    if meta.year is not None:
        tags["DATE"] = [str(meta.year)]
    if meta.track is not None:
        tags["TRACKNUMBER"] = [str(meta.track)]
        if meta.track_total is not None:
            tags["TRACKTOTAL"] = [str(meta.track_total)]
    lyrics = lyrics_text(timeline)
    if lyrics:
        tags["LYRICS"] = [lyrics]
    if (language := iso639_2(timeline.language)) is not None:
        tags["LANGUAGE"] = [language]
    if (replaygain := meta.replaygain()) is not None:
        tags[RG_GAIN], tags[RG_PEAK] = [replaygain[0]], [replaygain[1]]
    if meta.cover is not None:
        tags["METADATA_BLOCK_PICTURE"] = [_picture_block(meta)]
    # Vorbis chapters have starts only: a player runs each to the next, the last to the file's end.
    for i, chapter in enumerate(chapters(timeline, meta.length_ms), start=1):
        tags[f"CHAPTER{i:03d}"] = [timestamp(chapter.start)]
        tags[f"CHAPTER{i:03d}NAME"] = [chapter.title]
    audio.save()


# --------------------------------------------------------------------------- dispatch

_WRITERS: dict[str, Callable[[str | Path, Timeline, TrackMeta], None]] = {
    "mp3": write_id3,
    "m4a": write_mp4_tags,
    "m4b": write_mp4_tags,
    "mp4": write_mp4_tags,
    "ogg": write_ogg_tags,
    "oga": write_ogg_tags,
    "opus": write_ogg_tags,
}


def write_tags(path: str | Path, fmt: str, timeline: Timeline, meta: TrackMeta) -> None:
    """Tag ``path`` according to its output format; WAV gets no tags."""
    key = fmt.lower().lstrip(".")
    if key == "wav":
        return
    try:
        writer = _WRITERS[key]
    except KeyError:
        known = ", ".join(sorted([*_WRITERS, "wav"]))
        raise ValueError(f"cannot tag format {fmt!r}; known formats: {known}") from None
    writer(path, timeline, meta)
