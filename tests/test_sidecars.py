"""LRC and WebVTT sidecars read back by independent parsers, plus playlists and file names."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest
import webvtt

from legsup_audio.errors import LegsupError, OutputError
from legsup_audio.output.playlist import MAX_NAME, m3u8_text, track_filename
from legsup_audio.output.sidecars import LRC_HOLD_MS, LRC_MIN_BLANK_MS, lrc_text, lrc_time, vtt_text, write_sidecars
from legsup_audio.units import timestamp as vtt_time
from legsup_audio.compile.timeline import Event, StepSpan, Timeline

TOLERANCE_MS = 10


def make_timeline() -> Timeline:
    steps = (
        StepSpan("floor", "Getting down", 0, 60_000, 3),
        StepSpan("legs", "Legs up --> rest", 60_000, 3_700_000, 10),
        StepSpan("out", "Coming out", 3_700_000, 3_725_000, 20),
    )
    events = (
        Event("speech", 1_004, 3_410, "floor", 4, "Find a clear space beside a wall."),
        Event("speech", 59_996, 61_000, "floor", 5, "Sit sideways — ça va?"),
        Event("inhale", 62_000, 66_000, "legs", 11),
        Event("speech", 66_005, 68_250, "legs", 12, "Swing your legs up <slowly> & rest."),
        Event("speech", 3_700_125, 3_703_999, "out", 21, "Bend your knees.\n  Roll to one side."),
    )
    return Timeline("Legs Up [evening]", 3_725_000, steps, events, author="Test Voice")


TIMELINE = make_timeline()
SPOKEN = [e for e in TIMELINE.events if e.kind == "speech"]

LRC_LINE = re.compile(r"^\[(\d{2,}):(\d{2})\.(\d{2})\](.*)$")
LRC_TAG = re.compile(r"^\[([a-z]+):\s*(.*)\]$")


def parse_lrc(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    tags: dict[str, str] = {}
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        if m := LRC_LINE.match(raw):
            mm, ss, cc, body = m.groups()
            lines.append(((int(mm) * 60 + int(ss)) * 1000 + int(cc) * 10, body))
        elif m := LRC_TAG.match(raw):
            tags[m.group(1)] = m.group(2)
        else:
            raise AssertionError(f"not an LRC line: {raw!r}")
    return tags, lines


def vtt_ms(stamp: str) -> int:
    h, m, rest = stamp.split(":")
    s, ms = rest.split(".")
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


def flat(text: str | None) -> str:
    return " ".join((text or "").split())


# --------------------------------------------------------------------------- LRC


def test_lrc_lines_match_speech_events() -> None:
    tags, lines = parse_lrc(lrc_text(TIMELINE))
    assert tags["ti"] == "Legs Up (evening)"
    assert tags["ar"] == "Test Voice"
    assert tags["length"] == "62:05"
    assert "la" not in tags  # no language known, no [la:] tag
    worded = [(ms, body) for ms, body in lines if body]
    assert len(worded) == len(SPOKEN)
    for (ms, body), event in zip(worded, SPOKEN):
        assert abs(ms - event.start) <= TOLERANCE_MS
        assert body == flat(event.text)


def test_lrc_clears_after_each_cue_unless_the_next_comes_first() -> None:
    _, lines = parse_lrc(lrc_text(TIMELINE))
    assert [ms for ms, _ in lines] == sorted(ms for ms, _ in lines)
    # What a player shows at any moment is the last line before it: words only while (about) spoken.
    for event, after in zip(SPOKEN, [*SPOKEN[1:], None]):
        index = next(i for i, (ms, body) in enumerate(lines) if body and abs(ms - event.start) <= TOLERANCE_MS)
        following = lines[index + 1] if index + 1 < len(lines) else None
        clear_at = event.end + LRC_HOLD_MS
        if after is not None and after.start < clear_at + LRC_MIN_BLANK_MS:
            assert following is not None and following[1], "the next cue replaces it: no empty line between"
        else:
            assert following is not None and following[1] == "", event.text
            assert abs(following[0] - min(clear_at, TIMELINE.duration)) <= TOLERANCE_MS
    # The 59.996 s cue follows the first one long after it ended: cleared at 3.41 + 1 s.
    assert (4_410, "") in lines


def test_lrc_does_not_flicker_between_close_cues() -> None:
    steps = (StepSpan("a", "A", 0, 20_000, 1),)
    for next_start, cleared in ((4_000 + LRC_HOLD_MS + LRC_MIN_BLANK_MS - 10, False),
                                (4_000 + LRC_HOLD_MS + LRC_MIN_BLANK_MS, True)):
        tl = Timeline("t", 20_000, steps, (Event("speech", 1_000, 4_000, "a", 2, "One."),
                                           Event("speech", next_start, next_start + 1_000, "a", 3, "Two.")))
        _, lines = parse_lrc(lrc_text(tl))
        assert ((5_000, "") in lines) is cleared, lines
        assert lines[-1] == (next_start + 1_000 + LRC_HOLD_MS, "")  # the last cue always clears


def test_captions_leave_out_inline_pause_marks_and_name_the_language(tmp_path: Path) -> None:
    tl = Timeline("t", 20_000, (StepSpan("a", "A", 0, 20_000, 1),),
                  (Event("speech", 1_000, 6_000, "a", 2, "Let your arms rest. [2s] Now [pause 1.5 s] breathe. [800ms]"),
                   Event("speech", 9_000, 10_000, "a", 3, "Stay [here] a while.")), language="es")
    tags, lines = parse_lrc(lrc_text(tl))
    assert tags["la"] == "es"
    assert [body for _, body in lines if body] == ["Let your arms rest. Now breathe.", "Stay [here] a while."]
    path = tmp_path / "p.vtt"
    path.write_text(vtt_text(tl), encoding="utf-8")
    assert vtt_text(tl).startswith("WEBVTT\nLanguage: es\n\n")
    captions = webvtt.read(str(path)).captions
    assert [c.text for c in captions] == ["Let your arms rest. Now breathe.", "Stay [here] a while."]
    assert vtt_ms(captions[0].end) == 6_000  # the caption ends with the speech, not at the next cue


def test_lrc_rounds_to_nearest_centisecond() -> None:
    assert lrc_time(0) == "00:00.00"
    assert lrc_time(1_004) == "00:01.00"
    assert lrc_time(1_005) == "00:01.01"
    assert lrc_time(59_996) == "01:00.00"
    assert lrc_time(6_000_000) == "100:00.00"


def test_lrc_artist_override_and_absence() -> None:
    tags, _ = parse_lrc(lrc_text(TIMELINE, artist="Someone"))
    assert tags["ar"] == "Someone"
    anonymous = Timeline("Quiet", 5_000, (), ())
    text = lrc_text(anonymous)
    assert "[ar:" not in text
    tags, lines = parse_lrc(text)
    assert tags["length"] == "00:05" and lines == []


# --------------------------------------------------------------------------- WebVTT


def test_vtt_cues_match_speech_events(tmp_path: Path) -> None:
    path = tmp_path / "s.vtt"
    path.write_text(vtt_text(TIMELINE), encoding="utf-8")
    captions = webvtt.read(str(path)).captions
    assert len(captions) == len(SPOKEN)
    for caption, event in zip(captions, SPOKEN):
        assert abs(vtt_ms(caption.start) - event.start) <= TOLERANCE_MS
        assert abs(vtt_ms(caption.end) - event.end) <= TOLERANCE_MS
        # WebVTT escapes & and <; webvtt-py hands the raw cue text back.
        assert html.unescape(caption.text) == flat(event.text)


def test_vtt_text_shape() -> None:
    text = vtt_text(TIMELINE)
    assert text.startswith("WEBVTT\n\n")
    assert "Swing your legs up &lt;slowly&gt; &amp; rest." in text
    notes = [line for line in text.splitlines() if line.startswith("NOTE")]
    assert notes == [
        "NOTE step: Getting down",
        "NOTE step: Legs up -> rest",
        "NOTE step: Coming out",
    ]
    assert text.count("-->") == len(SPOKEN)  # the step title's arrow was defused
    assert "NOTE" not in vtt_text(TIMELINE, notes=False)
    assert vtt_time(3_723_456) == "01:02:03.456"


def test_vtt_zero_length_cue_still_ends_after_it_starts() -> None:
    tl = Timeline("t", 5_000, (), (Event("speech", 1_000, 1_000, "a", 1, "Now."),))
    assert "00:00:01.000 --> 00:00:01.001" in vtt_text(tl)


# --------------------------------------------------------------------------- files


def test_write_sidecars_beside_audio(tmp_path: Path) -> None:
    audio = tmp_path / "01 - Legs Up.mp3"
    audio.write_bytes(b"not really audio")
    (tmp_path / "01 - Legs Up.lrc").write_text("stale", encoding="utf-8")
    paths = write_sidecars(audio, TIMELINE)
    assert paths == [tmp_path / "01 - Legs Up.lrc", tmp_path / "01 - Legs Up.vtt"]
    assert paths[0].read_text(encoding="utf-8") == lrc_text(TIMELINE)
    assert paths[1].read_text(encoding="utf-8") == vtt_text(TIMELINE)
    assert "ça va" in paths[0].read_bytes().decode("utf-8")
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["01 - Legs Up.mp3", "01 - Legs Up.lrc", "01 - Legs Up.vtt"]
    )  # no temporary files left behind
    assert audio.read_bytes() == b"not really audio"


def test_write_sidecars_reports_unwritable_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot write") as info:
        write_sidecars(tmp_path / "missing" / "a.mp3", TIMELINE)
    assert isinstance(info.value, LegsupError)


# --------------------------------------------------------------------------- playlist


def test_m3u8_text() -> None:
    text = m3u8_text(
        [
            ("01 - Legs Up.mp3", 754_200, "Legs Up the Wall"),
            ("sub\\02 - Évening.mp3", 499, "Évening\nwind-down"),
        ]
    )
    assert text == (
        "#EXTM3U\n"
        "#EXTINF:754,Legs Up the Wall\n"
        "01 - Legs Up.mp3\n"
        "#EXTINF:0,Évening wind-down\n"
        "sub/02 - Évening.mp3\n"
    )
    assert m3u8_text([]) == "#EXTM3U\n"
    text.encode("utf-8")


@pytest.mark.parametrize(
    ("index", "title", "ext", "expected"),
    [
        (1, "Legs Up the Wall", "mp3", "01 - Legs Up the Wall.mp3"),
        (2, 'Rest: "deep" <calm>/now\\|?*', ".mp3", "02 - Rest_ 'deep' _calm__now____.mp3"),
        (3, "Tab\there\x00\x1fbell\x7f", "m4a", "03 - Tab here bell.m4a"),
        (4, "Évening — 夕方の休息 🌙", "ogg", "04 - Évening — 夕方の休息 🌙.ogg"),
        (5, "Ends with dots... ", "mp3", "05 - Ends with dots.mp3"),
        (6, " ... ", "mp3", "06 - Untitled.mp3"),
        (123, "Many", "mp3", "123 - Many.mp3"),
        (7, "Cafe\u0301", "mp3", "07 - Caf\u00e9.mp3"),  # NFC, as phones and FAT expect
    ],
)
def test_track_filename(index: int, title: str, ext: str, expected: str) -> None:
    assert track_filename(index, title, ext) == expected


def test_track_filename_is_capped_and_safe() -> None:
    name = track_filename(9, "Legs up. " * 40 + "🌙" * 50, "mp3")
    assert len(name.encode("utf-16-le")) // 2 <= MAX_NAME
    assert name.startswith("09 - Legs up") and name.endswith(".mp3")
    stem = name[: -len(".mp3")]
    assert not stem.endswith((".", " "))
    assert not any(c in name for c in '<>:"/\\|?*') and name.isprintable()
    with pytest.raises(ValueError):
        track_filename(-1, "x", "mp3")
