"""Phone-ready exports end to end: tags, chapters, cover, lyrics, sidecars, formats, batches, --to.

Real ``python -m legsup_audio export`` subprocesses with espeak-ng and ffmpeg; the
results are read back by independent clients: ffprobe (tags, chapters, the cover
stream), mutagen (the ID3 table of contents), webvtt-py and pylrc (the sidecars),
ffmpeg decoding (durations).  Times are compared with ``legsup timeline --json``.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pylrc
import pytest
import webvtt
from mutagen.id3 import ID3, CTOCFlags
from PIL import Image

from audio_checks import probe

pytestmark = pytest.mark.e2e

SCRIPT_A = """\
title: Evening Rest
author: Sam the Teacher
album: Bedtime Sessions
gap: 1s
lead_in: 0.5s
tail: 1.5s
steps:
  - title: Getting down to the floor
    id: floor
    cues:
      - Find a clear space beside a wall.
      - say: Take your time.
        gap: 2s
      - Lie on your side.
  - title: Breathing
    duration: 9s
    cues:
      - Breathe in slowly.
      - at: 5s
        say: And let it go.
  - title: Coming back
    cues:
      - Roll gently to one side.
"""

SCRIPT_B = """\
title: Morning Wake
cover: cover.jpg
lead_in: 0.5s
tail: 1s
steps:
  - title: Wake
    cues:
      - Good morning.
      - Stretch your arms.
"""

SCRIPT_C = """\
title: "Night: the long one?"
lead_in: 0.5s
tail: 1s
steps:
  - title: Settle
    cues:
      - Settle in.
  - title: Sleep
    cues:
      - Sleep well.
"""

BROKEN = """\
title: Broken
steps:
  - title: One
    cuez:
      - Hello.
"""


def run_legsup(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], check=False, env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("phone")
    (root / "a.yaml").write_text(SCRIPT_A, encoding="utf-8")
    (root / "c.yaml").write_text(SCRIPT_C, encoding="utf-8")
    (root / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    sub = root / "sub"  # b's cover is relative to the script, not to the working folder
    sub.mkdir()
    (sub / "b.yaml").write_text(SCRIPT_B, encoding="utf-8")
    Image.new("RGB", (320, 320), (40, 90, 160)).save(sub / "cover.jpg", format="JPEG")
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(root / "cache")}
    timelines = {}
    for name in ("a.yaml", "sub/b.yaml", "c.yaml"):
        result = run_legsup("timeline", name, "--json", env=env, cwd=root)
        assert result.returncode == 0, result.stderr
        timelines[name] = json.loads(result.stdout)
    return {"root": root, "env": env, "timelines": timelines}


@pytest.fixture(scope="module")
def single(work: dict) -> dict:
    out = work["root"] / "out" / "evening.mp3"
    result = run_legsup("export", "a.yaml", "-o", str(out), env=work["env"], cwd=work["root"])
    assert result.returncode == 0, result.stderr
    return {"path": out, "timeline": work["timelines"]["a.yaml"], "result": result}


def speech(timeline: dict) -> list[dict]:
    return [e for e in timeline["events"] if e["kind"] == "speech"]


# --------------------------------------------------------------------------- one MP3


def test_export_writes_the_track_and_its_sidecars_and_is_quiet_in_a_pipe(single: dict) -> None:
    folder = single["path"].parent
    assert sorted(p.name for p in folder.iterdir()) == ["evening.lrc", "evening.mp3", "evening.vtt"]
    assert single["result"].stderr == ""  # no progress display when stderr is not a terminal
    assert single["result"].stdout.startswith(f"wrote {single['path']}")


def test_ffprobe_reads_the_chapters_at_the_step_times(single: dict) -> None:
    info = probe(single["path"])
    chapters = info["chapters"]
    steps = single["timeline"]["steps"]
    assert [c["tags"]["title"] for c in chapters] == [s["title"] for s in steps]
    assert float(chapters[0]["start_time"]) == 0.0  # the lead-in is the first chapter's
    for chapter, step in zip(chapters[1:], steps[1:]):
        assert abs(float(chapter["start_time"]) - step["start"]) <= 0.050, (chapter, step)
    for chapter, following in zip(chapters, chapters[1:]):
        assert chapter["end_time"] == following["start_time"]
    assert abs(float(chapters[-1]["end_time"]) - float(info["format"]["duration"])) <= 0.050  # and the tail the last's


def test_ffprobe_reads_the_tags_and_the_cover(single: dict) -> None:
    info = probe(single["path"])
    tags = {k.lower(): v for k, v in info["format"]["tags"].items()}
    assert tags["title"] == "Evening Rest"
    assert tags["artist"] == "Sam the Teacher"
    assert tags["album"] == "Bedtime Sessions"
    assert tags["genre"] == "Meditation"
    assert tags["date"] == str(datetime.date.today().year)
    assert "track" not in tags  # only batch tracks are numbered
    pictures = [s for s in info["streams"] if s["disposition"].get("attached_pic") == 1]
    assert len(pictures) == 1
    assert pictures[0]["codec_name"] == "png"
    assert (pictures[0]["width"], pictures[0]["height"]) == (1000, 1000)


def test_mutagen_reads_a_toc_with_every_chapter_in_order(single: dict) -> None:
    tags = ID3(single["path"])
    tocs = tags.getall("CTOC")
    assert len(tocs) == 1
    toc = tocs[0]
    assert toc.flags & CTOCFlags.TOP_LEVEL and toc.flags & CTOCFlags.ORDERED
    chapters = {frame.element_id: frame for frame in tags.getall("CHAP")}
    steps = single["timeline"]["steps"]
    assert len(toc.child_element_ids) == len(steps) == len(chapters)
    ordered = [chapters[element_id] for element_id in toc.child_element_ids]
    for i, (chapter, step) in enumerate(zip(ordered, steps)):
        assert chapter.start_time == (0 if i == 0 else round(step["start"] * 1000))
        assert chapter.end_time == (ordered[i + 1].start_time if i + 1 < len(ordered)
                                    else round(1000 * float(probe(single["path"])["format"]["duration"])))
        assert chapter.sub_frames["TIT2"].text == [step["title"]]
    lyrics = tags.getall("USLT")[0].text
    for event in speech(single["timeline"]):
        assert event["text"] in lyrics


def test_vtt_cues_match_the_speech_events(single: dict) -> None:
    captions = webvtt.read(str(single["path"].with_suffix(".vtt")))
    events = speech(single["timeline"])
    assert len(captions) == len(events)
    for caption, event in zip(captions, events):
        assert caption.text == event["text"]
        assert abs(caption.start_time.in_milliseconds() - event["start"] * 1000) <= 10
        assert abs(caption.end_time.in_milliseconds() - event["end"] * 1000) <= 10


def test_lrc_lines_match_the_speech_events(single: dict) -> None:
    lyrics = pylrc.parse(single["path"].with_suffix(".lrc").read_text(encoding="utf-8"))
    assert lyrics.title == "Evening Rest"
    assert lyrics.artist == "Sam the Teacher"
    events = speech(single["timeline"])
    worded = [line for line in lyrics if line.text]  # the others are the empty lines that clear the screen
    assert len(worded) == len(events)
    for line, event in zip(worded, events):
        assert line.text == event["text"]
        assert abs(line.time - event["start"]) <= 0.010, (line.time, event)


# --------------------------------------------------------------------------- other formats


def decoded_seconds(path: Path) -> float:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "44100",
                          "pipe:1"], check=True, capture_output=True).stdout
    return len(np.frombuffer(raw, dtype="<i2")) / 44100


@pytest.mark.parametrize("fmt", ["m4a", "ogg", "wav"])
def test_other_formats_decode_to_the_mp3_duration_and_are_tagged(single: dict, work: dict, fmt: str) -> None:
    out = work["root"] / "formats" / f"evening.{fmt}"
    result = run_legsup("export", "a.yaml", "-o", str(out), "--format", fmt, env=work["env"], cwd=work["root"])
    assert result.returncode == 0, result.stderr
    assert out.with_suffix(".lrc").is_file() and out.with_suffix(".vtt").is_file()
    assert abs(decoded_seconds(out) - decoded_seconds(single["path"])) <= 0.050
    assert abs(decoded_seconds(out) - single["timeline"]["duration"]) <= 0.050
    info = probe(out)
    if fmt == "wav":
        return  # WAV carries no tags
    stream = next(s for s in info["streams"] if s["codec_type"] == "audio")
    tags = {k.lower(): v for k, v in {**info["format"].get("tags", {}), **stream.get("tags", {})}.items()}
    assert (tags["title"], tags["artist"], tags["album"]) == ("Evening Rest", "Sam the Teacher", "Bedtime Sessions")
    assert any(s["disposition"].get("attached_pic") == 1 for s in info["streams"])
    if fmt == "ogg":  # Vorbis chapter comments
        assert [c["tags"]["title"] for c in info["chapters"]] == [s["title"] for s in single["timeline"]["steps"]]


# --------------------------------------------------------------------------- batches


@pytest.fixture(scope="module")
def batch(work: dict) -> dict:
    root = work["root"]
    result = run_legsup("export", "a.yaml", "sub/b.yaml", "c.yaml", "-o", "batch", "--to", "phone",
                        env=work["env"], cwd=root)
    assert result.returncode == 0, result.stderr
    return {"folder": root / "batch", "phone": root / "phone", "result": result}


TRACKS = ["01 - Evening Rest", "02 - Morning Wake", "03 - Night_ the long one_"]


def test_batch_writes_numbered_tracks_with_sidecars_and_a_playlist(batch: dict) -> None:
    names = sorted(p.name for p in batch["folder"].iterdir())
    expected = sorted([f"{t}{ext}" for t in TRACKS for ext in (".mp3", ".lrc", ".vtt")] + ["playlist.m3u8"])
    assert names == expected
    assert batch["result"].stderr == ""
    for index, track in enumerate(TRACKS, start=1):
        tags = {k.lower(): v for k, v in probe(batch["folder"] / f"{track}.mp3")["format"]["tags"].items()}
        assert tags["track"] == f"{index}/3"


def test_batch_cover_comes_from_the_script_folder(batch: dict) -> None:
    info = probe(batch["folder"] / f"{TRACKS[1]}.mp3")
    picture = next(s for s in info["streams"] if s["disposition"].get("attached_pic") == 1)
    assert picture["codec_name"] == "mjpeg" and (picture["width"], picture["height"]) == (320, 320)
    assert info["format"]["tags"]["artist"] == "legsup-audio"  # no author: the product name


def test_a_batch_is_one_album_on_a_phone(batch: dict) -> None:
    # a.yaml names `album: Bedtime Sessions`; b and c name none: one album for the three, not two.
    tags = [{k.lower(): v for k, v in probe(batch["folder"] / f"{track}.mp3")["format"]["tags"].items()}
            for track in TRACKS]
    assert {t["album"] for t in tags} == {"Bedtime Sessions"}
    assert [t["artist"] for t in tags] == ["Sam the Teacher", "legsup-audio", "legsup-audio"]
    assert {t["album_artist"] for t in tags} == {"legsup-audio"}  # the artists differ: one album artist still


def test_playlist_entries_resolve_and_durations_match(batch: dict, work: dict) -> None:
    playlist = batch["folder"] / "playlist.m3u8"
    lines = playlist.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    body = lines[1:]
    assert len(body) == 2 * len(TRACKS)
    titles = [work["timelines"][n]["title"] for n in ("a.yaml", "sub/b.yaml", "c.yaml")]
    for (info, entry), track, title in zip(zip(body[::2], body[1::2]), TRACKS, titles):
        assert info.startswith("#EXTINF:")
        seconds, shown = info[len("#EXTINF:"):].split(",", 1)
        assert shown == title
        assert not Path(entry).is_absolute() and entry == f"{track}.mp3"
        target = (playlist.parent / entry).resolve()
        assert target.is_file()
        assert abs(int(seconds) - float(probe(target)["format"]["duration"])) <= 1.0


def test_to_copies_everything_and_a_second_run_copies_nothing(batch: dict, work: dict) -> None:
    phone = batch["phone"]
    made = sorted(p.name for p in batch["folder"].iterdir())
    assert sorted(p.name for p in phone.iterdir()) == made
    for name in made:
        assert (phone / name).read_bytes() == (batch["folder"] / name).read_bytes()
    assert "copied 10 file(s)" in batch["result"].stdout
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in phone.iterdir()}
    again = run_legsup("export", "a.yaml", "sub/b.yaml", "c.yaml", "-o", "batch", "--to", "phone",
                       env=work["env"], cwd=work["root"])
    assert again.returncode == 0, again.stderr
    assert "nothing to copy: all 10 files are already in phone" in again.stdout
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in phone.iterdir()} == before


def test_a_failing_batch_keeps_the_finished_tracks(work: dict) -> None:
    root = work["root"]
    result = run_legsup("export", "a.yaml", "broken.yaml", "c.yaml", "-o", "failed", "--to", "failed-phone",
                        env=work["env"], cwd=root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("broken.yaml:4:5: unknown key 'cuez'"), lines
    assert lines[-1] == ("legsup: batch stopped at script 2 of 3 (broken.yaml): 1 finished track(s) kept in "
                         "failed; no playlist written")
    assert sorted(p.name for p in (root / "failed").iterdir()) == [
        "01 - Evening Rest.lrc", "01 - Evening Rest.mp3", "01 - Evening Rest.vtt"]  # and no temporary files
    assert not (root / "failed-phone").exists()  # nothing is copied from an unfinished batch


def test_to_a_folder_on_a_missing_mount_fails_before_any_work(work: dict) -> None:
    root = work["root"]
    result = run_legsup("export", "a.yaml", "-o", "never/a.mp3", "--to", "/media/no-such-phone/Music",
                        env=work["env"], cwd=root)
    assert result.returncode == 2
    assert result.stderr.strip() == ("--to /media/no-such-phone/Music: /media/no-such-phone does not exist; "
                                     "is the phone or card mounted?")
    assert not (root / "never").exists()


# --------------------------------------------------------------------------- the progress display


def test_progress_display_in_a_terminal(work: dict) -> None:
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "legsup_audio", "export", "a.yaml", "c.yaml", "-o", "tty"],
                          cwd=str(work["root"]), env={**work["env"], "COLUMNS": "100", "TERM": "xterm"},
                          encoding="utf-8", timeout=120)
    child.expect("track 1 of 2")
    child.expect("rendering and encoding")
    child.expect("wrote tty/playlist.m3u8")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
