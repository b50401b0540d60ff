"""Tags, cover art, chapters and lyrics on real MP3/M4A/Ogg files made with ffmpeg.

Every file is encoded here from a sine tone, tagged with :mod:`legsup_audio.output.tags`,
and read back twice: by ffprobe (what ffmpeg-based players see) and by mutagen.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mutagen.flac import Picture
from mutagen.id3 import ID3, CTOCFlags, PictureType
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from PIL import Image

from legsup_audio.output.cover import make_cover
from legsup_audio.output.tags import (
    TrackMeta,
    lyrics_text,
    write_id3,
    write_ogg_tags,
    write_tags,
)
from legsup_audio.compile.timeline import Event, StepSpan, Timeline
from legsup_audio.units import timestamp as vorbis_time

DURATION_MS = 20_000
TOLERANCE_S = 0.050

CODECS = {
    "mp3": ["-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus", "-b:a", "32k"],
}


def make_timeline() -> Timeline:
    steps = (
        StepSpan("floor", "Getting down to the floor", 0, 6_000, 3),
        StepSpan("legs", "Legs up – rest & breathe", 6_000, 14_500, 10),
        StepSpan("out", "Coming out gently", 14_500, DURATION_MS, 20),
    )
    events = (
        Event("speech", 1_000, 3_410, "floor", 4, "Find a clear space beside a wall."),
        Event("speech", 3_900, 5_500, "floor", 5, "Sit sideways to it."),
        Event("speech", 6_005, 8_250, "legs", 11, "Swing your legs up <slowly> & rest."),
        Event("inhale", 9_000, 13_000, "legs", 12),
        Event("speech", 15_000, 17_999, "out", 21, "Bend your knees.\nRoll to one side."),
    )
    return Timeline("Legs Up the Wall", DURATION_MS, steps, events, author="Test Voice")


TIMELINE = make_timeline()
COVER = make_cover("Legs Up the Wall", size=300)
META = TrackMeta(
    title="Legs Up the Wall",
    artist="Test Voice",
    album="Evening Sessions",
    year=2024,
    track=2,
    track_total=5,
    cover=COVER,
)


def encode(path: Path) -> Path:
    fmt = path.suffix.lstrip(".")
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={DURATION_MS / 1000}",
        "-ac", "1", *CODECS[fmt], str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return path


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-show_streams",
         "-print_format", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    probe: dict[str, Any] = json.loads(out)
    return probe


def lower_tags(d: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in d.get("tags", {}).items()}


def attached_pics(probe: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in probe["streams"] if s.get("disposition", {}).get("attached_pic") == 1]


def assert_chapters(probe: dict[str, Any], timeline: Timeline) -> None:
    chapters = probe["chapters"]
    assert [lower_tags(c).get("title") for c in chapters] == [s.title for s in timeline.steps]
    for chapter, step in zip(chapters, timeline.steps):
        assert abs(float(chapter["start_time"]) - step.start / 1000) <= TOLERANCE_S
        assert abs(float(chapter["end_time"]) - step.end / 1000) <= TOLERANCE_S


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tagged file per format, encoded once for the module."""
    folder = tmp_path_factory.mktemp("tagged")
    files: dict[str, Path] = {}
    for fmt in CODECS:
        path = encode(folder / f"session.{fmt}")
        write_tags(path, fmt, TIMELINE, META)
        files[fmt] = path
    return files


# --------------------------------------------------------------------------- MP3


def test_mp3_ffprobe_sees_tags_chapters_and_cover(tagged: dict[str, Path]) -> None:
    probe = ffprobe(tagged["mp3"])
    tags = lower_tags(probe["format"])
    assert tags["title"] == "Legs Up the Wall"
    assert tags["artist"] == "Test Voice"
    assert tags["album"] == "Evening Sessions"
    assert tags["genre"] == "Meditation"
    assert tags["date"] == "2024"
    assert tags["track"] == "2/5"
    assert_chapters(probe, TIMELINE)
    pics = attached_pics(probe)
    assert len(pics) == 1
    assert pics[0]["codec_name"] == "png"
    assert (pics[0]["width"], pics[0]["height"]) == (300, 300)
    # The audio itself is still there and as long as it was.
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1
    assert abs(float(probe["format"]["duration"]) - DURATION_MS / 1000) < 0.2


def test_mp3_mutagen_reads_id3v24_ctoc_chap_uslt_apic(tagged: dict[str, Path]) -> None:
    tags = ID3(tagged["mp3"])
    assert tags.version[:2] == (2, 4)
    tocs = tags.getall("CTOC")
    assert len(tocs) == 1
    toc = tocs[0]
    assert toc.element_id == "toc"
    assert toc.flags & CTOCFlags.TOP_LEVEL
    assert toc.flags & CTOCFlags.ORDERED
    assert list(toc.child_element_ids) == ["chp0", "chp1", "chp2"]

    chaps = {c.element_id: c for c in tags.getall("CHAP")}
    assert set(chaps) == {"chp0", "chp1", "chp2"}
    for cid, step in zip(toc.child_element_ids, TIMELINE.steps):
        chap = chaps[cid]
        assert (chap.start_time, chap.end_time) == (step.start, step.end)
        assert chap.sub_frames["TIT2"].text == [step.title]

    uslt = tags.getall("USLT")
    assert len(uslt) == 1
    for event in TIMELINE.speech():
        assert " ".join((event.text or "").split()) in uslt[0].text

    apic = tags.getall("APIC")
    assert len(apic) == 1
    assert apic[0].type == PictureType.COVER_FRONT
    assert apic[0].mime == "image/png"
    assert apic[0].data == COVER
    assert str(tags["TDRC"].text[0]) == "2024"
    assert tags["TRCK"].text == ["2/5"]
    assert tags["TCON"].text == ["Meditation"]


def test_mp3_chap_frames_are_stored_in_chapter_order(tagged: dict[str, Path]) -> None:
    raw = tagged["mp3"].read_bytes()
    assert raw[:3] == b"ID3"
    size = 0
    for byte in raw[6:10]:  # synchsafe integer
        size = (size << 7) | byte
    tag = raw[10 : 10 + size]
    # Each id also appears in the CTOC's child list; the CHAP frame's copy is the last one.
    where = [tag.rindex(f"chp{i}\x00".encode()) for i in range(3)]
    assert where == sorted(where)
    assert where[0] > tag.index(b"CTOC")


def test_mp3_retagging_replaces_frames_and_keeps_others(tmp_path: Path) -> None:
    path = encode(tmp_path / "again.mp3")
    assert "TSSE" in ID3(path)  # ffmpeg's encoder frame
    write_id3(path, TIMELINE, META)
    renamed = TrackMeta(title="Second title", artist="Someone else")
    write_id3(path, TIMELINE, renamed)
    tags = ID3(path)
    assert tags.getall("TIT2")[0].text == ["Second title"]
    assert len(tags.getall("CHAP")) == 3
    assert len(tags.getall("CTOC")) == 1
    assert len(tags.getall("USLT")) == 1
    assert tags.getall("APIC") == []  # the new meta has no cover
    assert tags.getall("TRCK") == [] and tags.getall("TDRC") == []
    assert "TSSE" in tags


def test_mp3_jpeg_cover_and_no_steps(tmp_path: Path) -> None:
    path = encode(tmp_path / "jpeg.mp3")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 60, 120)).save(buf, format="JPEG")
    bare = Timeline("Bare", DURATION_MS, (), ())
    write_id3(
        path, bare, TrackMeta("Bare", "Nobody", cover=buf.getvalue(), cover_mime="image/jpeg")
    )
    tags = ID3(path)
    assert tags.getall("APIC")[0].mime == "image/jpeg"
    assert tags.getall("CHAP") == [] and tags.getall("CTOC") == [] and tags.getall("USLT") == []
    probe = ffprobe(path)
    assert probe["chapters"] == []
    assert [s["codec_name"] for s in attached_pics(probe)] == ["mjpeg"]


def test_unsupported_cover_mime_is_refused(tmp_path: Path) -> None:
    path = encode(tmp_path / "gif.mp3")
    with pytest.raises(ValueError, match="image/png or image/jpeg"):
        write_id3(path, TIMELINE, TrackMeta("x", "y", cover=b"GIF89a", cover_mime="image/gif"))


# --------------------------------------------------------------------------- M4A


def test_m4a_tags_and_cover(tagged: dict[str, Path]) -> None:
    tags = MP4(tagged["m4a"]).tags
    assert tags is not None
    assert tags["\xa9nam"] == ["Legs Up the Wall"]
    assert tags["\xa9ART"] == ["Test Voice"]
    assert tags["\xa9alb"] == ["Evening Sessions"]
    assert tags["\xa9gen"] == ["Meditation"]
    assert tags["\xa9day"] == ["2024"]
    assert tags["trkn"] == [(2, 5)]
    assert "Sit sideways to it." in tags["\xa9lyr"][0]
    (cover,) = tags["covr"]
    assert cover.imageformat == MP4Cover.FORMAT_PNG
    assert bytes(cover) == COVER

    probe = ffprobe(tagged["m4a"])
    ptags = lower_tags(probe["format"])
    assert (ptags["title"], ptags["artist"], ptags["album"]) == (
        "Legs Up the Wall",
        "Test Voice",
        "Evening Sessions",
    )
    assert len(attached_pics(probe)) == 1


# --------------------------------------------------------------------------- Ogg


@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_ogg_vorbis_comments_chapters_and_picture(tagged: dict[str, Path], fmt: str) -> None:
    audio = (OggVorbis if fmt == "ogg" else OggOpus)(tagged[fmt])
    tags = audio.tags
    assert tags is not None
    assert tags["TITLE"] == ["Legs Up the Wall"]
    assert tags["ARTIST"] == ["Test Voice"]
    assert tags["ALBUM"] == ["Evening Sessions"]
    assert tags["GENRE"] == ["Meditation"]
    assert tags["DATE"] == ["2024"]
    assert tags["TRACKNUMBER"] == ["2"]
    for event in TIMELINE.speech():
        assert " ".join((event.text or "").split()) in tags["LYRICS"][0]
    assert tags["CHAPTER001"] == ["00:00:00.000"]
    assert tags["CHAPTER002"] == ["00:00:06.000"]
    assert tags["CHAPTER003"] == ["00:00:14.500"]
    assert tags["CHAPTER002NAME"] == ["Legs up – rest & breathe"]
    pic = Picture(base64.b64decode(tags["METADATA_BLOCK_PICTURE"][0]))
    assert pic.type == PictureType.COVER_FRONT
    assert pic.mime == "image/png"
    assert (pic.width, pic.height) == (300, 300)
    assert pic.data == COVER

    probe = ffprobe(tagged[fmt])
    assert_chapters(probe, TIMELINE)
    # ffmpeg puts Ogg comments on the audio stream (the picture stream has its own).
    (audio_stream,) = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    stream_tags = lower_tags(probe["format"]) | lower_tags(audio_stream)
    assert stream_tags["title"] == "Legs Up the Wall"
    assert stream_tags["artist"] == "Test Voice"
    assert stream_tags["album"] == "Evening Sessions"
    assert len(attached_pics(probe)) == 1


def test_ogg_retag_drops_old_chapters(tmp_path: Path) -> None:
    path = encode(tmp_path / "retag.ogg")
    write_ogg_tags(path, TIMELINE, META)
    one_step = Timeline("One", DURATION_MS, (StepSpan("a", "Only", 0, DURATION_MS, 1),), ())
    write_ogg_tags(path, one_step, TrackMeta("One", "Me"))
    tags = OggVorbis(path).tags
    assert tags is not None
    chapter_keys = sorted(k.upper() for k in tags.keys() if k.upper().startswith("CHAPTER"))
    assert chapter_keys == ["CHAPTER001", "CHAPTER001NAME"]
    assert "METADATA_BLOCK_PICTURE" not in tags and "LYRICS" not in tags


def test_ogg_writer_refuses_other_files(tmp_path: Path) -> None:
    path = encode(tmp_path / "not-ogg.mp3")
    with pytest.raises(ValueError, match="not an Ogg"):
        write_ogg_tags(path, TIMELINE, META)


# --------------------------------------------------------------------------- dispatch and helpers


def test_write_tags_leaves_wav_alone_and_refuses_unknown(tmp_path: Path) -> None:
    wav = tmp_path / "plain.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", str(wav)],
        check=True,
    )
    before = wav.read_bytes()
    write_tags(wav, "wav", TIMELINE, META)
    write_tags(wav, "WAV", TIMELINE, META)
    assert wav.read_bytes() == before
    with pytest.raises(ValueError, match="flac"):
        write_tags(wav, "flac", TIMELINE, META)


def test_write_tags_dispatches_by_format(tmp_path: Path) -> None:
    path = encode(tmp_path / "x.m4a")
    write_tags(shutil.copy(path, tmp_path / "y.m4a"), ".M4A", TIMELINE, META)
    tags = MP4(tmp_path / "y.m4a").tags
    assert tags is not None and tags["\xa9nam"] == ["Legs Up the Wall"]


def test_vorbis_time_and_lyrics_text() -> None:
    assert vorbis_time(0) == "00:00:00.000"
    assert vorbis_time(3_723_456) == "01:02:03.456"
    assert vorbis_time(59_999) == "00:00:59.999"
    assert lyrics_text(TIMELINE) == (
        "Find a clear space beside a wall.\nSit sideways to it.\n\n"
        "Swing your legs up <slowly> & rest.\n\n"
        "Bend your knees. Roll to one side."
    )
    assert lyrics_text(Timeline("t", 1, (), ())) == ""


# --------------------------------------------------------------------------- language, ReplayGain, album artist


@pytest.mark.parametrize(("language", "id3", "vorbis"), [("de", "ger", "ger"), ("es-419", "spa", "spa"),
                                                         (None, "XXX", None), ("xx", "XXX", None)])
def test_the_texts_language_in_id3_mp4_and_vorbis(tmp_path: Path, language: str | None, id3: str,
                                                  vorbis: str | None) -> None:
    from dataclasses import replace

    timeline = replace(TIMELINE, language=language)
    mp3, m4a, ogg = (encode(tmp_path / f"lang.{fmt}") for fmt in ("mp3", "m4a", "ogg"))
    for path in (mp3, m4a, ogg):
        write_tags(path, path.suffix[1:], timeline, META)
    tags = ID3(mp3)
    assert [frame.lang for frame in tags.getall("USLT")] == [id3]
    assert [str(frame) for frame in tags.getall("TLAN")] == ([] if id3 == "XXX" else [id3])
    mp4 = MP4(m4a).tags
    assert mp4 is not None
    stored = mp4.get("----:com.apple.iTunes:LANGUAGE")
    assert (bytes(stored[0]).decode() if stored else None) == vorbis
    vorbis_tags = OggVorbis(ogg).tags
    assert vorbis_tags is not None and vorbis_tags.get("LANGUAGE", [None]) == [vorbis]


def test_replaygain_and_album_artist_in_every_format_and_replaced_on_retagging(tmp_path: Path) -> None:
    from dataclasses import replace

    measured = replace(META, album_artist="Sam", loudness=(-21.37, -3.0))
    assert measured.replaygain() == ("+3.37 dB", "0.707946")
    assert replace(META, loudness=(float("-inf"), float("-inf"))).replaygain() is None  # silence: no gain
    for fmt in ("mp3", "m4a", "ogg"):
        path = encode(tmp_path / f"rg.{fmt}")
        write_tags(path, fmt, TIMELINE, measured)
        write_tags(path, fmt, TIMELINE, replace(measured, loudness=(-15.0, -1.5)))  # a re-export's measurement
        tags = {k.lower(): v for k, v in ffprobe(path)["format"].get("tags", {}).items()}
        if fmt == "ogg":
            stream = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "audio")
            tags = {k.lower(): v for k, v in stream.get("tags", {}).items()}
        assert tags["replaygain_track_gain"] == "-3.00 dB", fmt
        assert tags["replaygain_track_peak"] == "0.841395", fmt
        assert tags["album_artist"] == "Sam", fmt
    frames = [f for f in ID3(tmp_path / "rg.mp3").getall("TXXX")]
    assert sorted(f.desc for f in frames) == ["REPLAYGAIN_TRACK_GAIN", "REPLAYGAIN_TRACK_PEAK"]  # not doubled
    untagged = encode(tmp_path / "none.mp3")
    write_id3(untagged, TIMELINE, META)  # nothing measured: no ReplayGain claimed
    assert ID3(untagged).getall("TXXX") == []


def test_lyrics_leave_out_inline_pauses() -> None:
    timeline = Timeline("t", 9_000, (StepSpan("a", "A", 0, 9_000, 1),),
                        (Event("speech", 0, 2_000, "a", 2, "Rest. [2s] Now [pause 1.5s] breathe. [800ms]"),
                         Event("speech", 3_000, 4_000, "a", 3, "[1s]"),
                         Event("speech", 5_000, 6_000, "a", 4, "Stay [here].")))
    assert lyrics_text(timeline) == "Rest. Now breathe.\nStay [here]."
