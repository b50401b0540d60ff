"""Chapters in every format legsup writes, read back by ffprobe and by mutagen.

Real exports (fake speech engine, real ffmpeg) of one small script as MP3, M4A, M4B
and Ogg Vorbis; every reader must see each step's title, and the chapters must tile
the file: the first starts at 0 (the lead-in is the first step's), each later one at
its step's start (within 50 ms of the timeline), each ends where the next starts, and
the last ends at the file's end as ffprobe reads its length.  M4A/M4B carry two
chapter lists: the Nero ``chpl`` box (AntennaPod, mutagen) and the QuickTime chapter
track (Apple, ffprobe); both are checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_checks import ffprobe_chapters, probe
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.oggvorbis import OggVorbis

from legsup_audio.output.export import export_session
from legsup_audio.pipeline import build
from legsup_audio.output.tags import MP4_CHAPTER_TITLE_BYTES, ffmetadata_text
from legsup_audio.compile.timeline import Timeline

TOLERANCE_S = 0.050
LONG_TITLE = "Ruhe à la façade; " * 9  # 171 bytes of UTF-8, with an FFMETADATA special character
SCRIPT = """\
title: Chapter Check
lead_in: 0.7s
tail: 0.5s
gap: 0.3s
steps:
  - title: "Getting down = easy; #1"
    cues:
      - Hello there.
  - title: Breathing
    duration: 2.5s
    cues:
      - In and out.
  - title: Ruhe à la façade
    cues:
      - Rest now.
"""
FORMATS = ("mp3", "m4a", "m4b", "ogg")


@pytest.fixture
def exported(fake_workdir: Path) -> tuple[Timeline, dict[str, Path]]:
    (fake_workdir / "chapters.yaml").write_text(SCRIPT, encoding="utf-8")
    session = build(fake_workdir / "chapters.yaml")
    files = {}
    for fmt in FORMATS:
        files[fmt] = export_session(session, fake_workdir / "out" / f"session.{fmt}", fmt=fmt).path
    return session.timeline, files


def expected_title(title: str, fmt: str) -> str:
    title = " ".join(title.split())
    if fmt in ("m4a", "m4b"):
        return title.encode()[:MP4_CHAPTER_TITLE_BYTES].decode("utf-8", "ignore")
    return title


def mutagen_chapters(path: Path, fmt: str) -> list[tuple[float, str]]:
    """(start in seconds, title) of each chapter, as mutagen reads them from the file."""
    if fmt == "mp3":
        frames = sorted(ID3(path).getall("CHAP"), key=lambda f: f.start_time)
        return [(f.start_time / 1000, str(f.sub_frames["TIT2"])) for f in frames]
    if fmt in ("m4a", "m4b"):
        chapters = MP4(path).chapters
        assert chapters is not None
        return [(c.start, c.title) for c in chapters]
    tags = OggVorbis(path).tags
    assert tags is not None
    out = []
    for n in range(1, 100):
        if f"CHAPTER{n:03d}" not in tags:
            break
        h, m, s = tags[f"CHAPTER{n:03d}"][0].split(":")
        out.append((int(h) * 3600 + int(m) * 60 + float(s), tags[f"CHAPTER{n:03d}NAME"][0]))
    return out


@pytest.mark.parametrize("fmt", ["m4a", "m4b"])
def test_a_long_mp4_chapter_title_is_cut_to_what_antennapod_reads(fake_workdir: Path, fmt: str) -> None:
    long_title = " ".join(LONG_TITLE.split())
    assert len(long_title.encode()) > MP4_CHAPTER_TITLE_BYTES
    script = f'title: Long\nlead_in: 0.2s\nsteps:\n  - title: "{long_title}"\n    cues: [Hi.]\n'
    (fake_workdir / "long.yaml").write_text(script, encoding="utf-8")
    path = export_session(build(fake_workdir / "long.yaml"), fake_workdir / f"long.{fmt}", fmt=fmt).path
    (title,) = [c.title for c in MP4(path).chapters or []]
    assert len(title.encode()) <= MP4_CHAPTER_TITLE_BYTES
    assert long_title.startswith(title) and len(title.encode()) >= MP4_CHAPTER_TITLE_BYTES - 3
    assert [c["tags"]["title"] for c in ffprobe_chapters(path)] == [title]


@pytest.mark.parametrize("fmt", FORMATS)
def test_chapters_tile_the_file_at_the_step_times(exported: tuple[Timeline, dict[str, Path]], fmt: str) -> None:
    timeline, files = exported
    steps = timeline.steps
    assert steps[0].start == 700 and timeline.duration > steps[-1].end  # a lead-in and a tail, both to be covered
    length = float(probe(files[fmt])["format"]["duration"])

    probed = ffprobe_chapters(files[fmt])
    assert [c["tags"]["title"] for c in probed] == [expected_title(s.title, fmt) for s in steps]
    starts = [float(c["start_time"]) for c in probed]
    ends = [float(c["end_time"]) for c in probed]
    assert starts[0] == 0.0
    for start, step in zip(starts[1:], steps[1:]):
        assert abs(start - step.start / 1000) <= TOLERANCE_S, (fmt, start, step.start)
    assert ends[:-1] == starts[1:], fmt  # no gap and no overlap
    assert abs(ends[-1] - length) <= TOLERANCE_S, (fmt, ends[-1], length)

    read = mutagen_chapters(files[fmt], fmt)
    assert [title for _, title in read] == [expected_title(s.title, fmt) for s in steps]
    assert read[0][0] == 0.0
    for (start, _), step in zip(read[1:], steps[1:]):
        assert abs(start - step.start / 1000) <= TOLERANCE_S, (fmt, start, step.start)
    if fmt == "mp3":  # ID3 CHAP frames carry their own ends: the last is the file's end, as players read it
        frames = sorted(ID3(files[fmt]).getall("CHAP"), key=lambda f: f.start_time)
        assert [f.end_time for f in frames[:-1]] == [f.start_time for f in frames[1:]]
        assert abs(frames[-1].end_time / 1000 - length) <= TOLERANCE_S


@pytest.mark.parametrize("fmt", ["m4a", "m4b"])
def test_mp4_tags_survive_beside_the_chapters(exported: tuple[Timeline, dict[str, Path]], fmt: str) -> None:
    _, files = exported
    audio = MP4(files[fmt])
    assert audio.tags is not None
    assert audio.tags["\xa9nam"] == ["Chapter Check"]
    assert "covr" in audio.tags
    assert files[fmt].suffix == f".{fmt}"


def test_ffmetadata_escapes_specials_and_cuts_long_titles_at_a_character() -> None:
    timeline = Timeline.from_dict({
        "title": "t", "author": None, "voice": "default", "duration": 3.0,
        "steps": [{"id": "a", "title": "a=b;c#d\\e\nf", "start": 0.0, "end": 1.0, "line": 1},
                  {"id": "b", "title": "é" * 100, "start": 1.0, "end": 2.0, "line": 2}],
        "events": [],
    })
    text = ffmetadata_text(timeline)
    assert text.startswith(";FFMETADATA1\n")
    assert "title=a\\=b\\;c\\#d\\\\e f\n" in text
    assert "title=" + "é" * 63 + "\n" in text  # 126 bytes: a 2-byte character is never cut in half
    assert "START=0\nEND=1000\n" in text and "START=1000\nEND=3000\n" in text  # tiling 0 to the duration
