"""The phone-library details of issue #17, measured on real exports (Piper, espeak-ng, ffmpeg).

Each test reads the written files back with an independent reader (mutagen for tags,
ffprobe for chapters and the track header, ffmpeg's ``ebur128`` for loudness, webvtt-py
and a plain parser for captions) and checks what a phone shows: one album for a batch,
the text's language in every tag that holds one (Spanish: ``spa`` / ``es``), chapters
that tile the file, lyrics that clear when the voice stops, ReplayGain tags that agree
with the file's measured loudness, and cue text without its inline pause marks
(``[2s]``) wherever a person reads it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import webvtt
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.oggvorbis import OggVorbis

from audio_checks import ffprobe_chapters, probe

pytestmark = pytest.mark.e2e

#: Inline pauses in every form the pacing syntax takes, and a bracket that is not one.
PAUSED = """\
title: Pauses
album: Evening Library
lead_in: 2s
tail: 5s
background:
  noise: {color: pink, level: -30dB}
steps:
  - title: Arrive
    cues:
      - Let your arms rest. [2s] Now breathe.
      - say: Close your eyes [pause 1.5s] and soften.
        gap: 3s
  - title: Rest [here]
    duration: 14s
    cues:
      - Stay here [800ms] a while.
"""
SPANISH = """\
title: Pared
language: es
lead_in: 1s
tail: 4s
steps:
  - title: Llegar
    cues:
      - Deja que la pared sostenga tus piernas. [1s] Respira.
  - title: Descanso
    duration: 10s
    cues:
      - Quédate aquí.
"""
PAUSE_MARK = re.compile(r"\[\s*(?:pause\s+)?\d+(?:\.\d+)?\s*m?s\s*\]", re.IGNORECASE)
TOLERANCE_S = 0.050


def legsup(*args: str, work: dict, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "legsup_audio", *args], cwd=work["root"],
                            env={**work["env"], **env}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("library")
    (root / "paused.yaml").write_text(PAUSED, encoding="utf-8")
    (root / "pared.yaml").write_text(SPANISH, encoding="utf-8")
    env = {**os.environ, "LEGSUP_CACHE_DIR": os.environ.get("LEGSUP_E2E_CACHE", str(root / "cache"))}
    work = {"root": root, "env": env}
    work["timelines"] = {name: json.loads(legsup("timeline", f"{name}.yaml", "--json", work=work).stdout)
                         for name in ("paused", "pared")}
    # One batch (MP3), then each script alone in the other formats.
    legsup("export", "paused.yaml", "pared.yaml", "-o", "batch", "--page", work=work)
    for fmt in ("m4a", "ogg"):
        for name in ("paused", "pared"):
            legsup("export", f"{name}.yaml", "-o", f"single/{name}.{fmt}", work=work)
    legsup("export", "paused.yaml", "-o", "voice/paused.mp3", "--no-background", work=work)  # mono, voice only
    work["batch"] = {"paused": root / "batch" / "01 - Pauses.mp3", "pared": root / "batch" / "02 - Pared.mp3"}
    return work


def files(work: dict, name: str) -> dict[str, Path]:
    return {"mp3": work["batch"][name], "m4a": work["root"] / "single" / f"{name}.m4a",
            "ogg": work["root"] / "single" / f"{name}.ogg"}


def speech(timeline: dict) -> list[dict]:
    return [e for e in timeline["events"] if e["kind"] == "speech"]


# --------------------------------------------------------------------------- 1. one album


def test_a_batch_is_one_album_and_album_overrides_it(work: dict) -> None:
    albums = {str(ID3(path)["TALB"]) for path in work["batch"].values()}
    assert albums == {"Evening Library"}  # the first script's album: the Spanish one names none
    assert {str(ID3(path)["TPE2"]) for path in work["batch"].values()} == {"legsup-audio"}
    legsup("export", "paused.yaml", "pared.yaml", "-o", "named", "--album", "  Sunday   rest ", work=work)
    named = sorted((work["root"] / "named").glob("*.mp3"))
    assert len(named) == 2 and {str(ID3(path)["TALB"]) for path in named} == {"Sunday rest"}
    blank = subprocess.run([sys.executable, "-m", "legsup_audio", "export", "paused.yaml", "--album", " ", "-o",
                            "blank.mp3"], cwd=work["root"], env=work["env"], capture_output=True, text=True)
    assert (blank.returncode, blank.stderr.strip()) == (2, "--album takes a name, like --album 'Evening sessions'")
    assert not (work["root"] / "blank.mp3").exists()


# --------------------------------------------------------------------------- 2. language


def test_spanish_is_tagged_spanish_in_every_format(work: dict) -> None:
    spanish, english = files(work, "pared"), files(work, "paused")
    tags = ID3(spanish["mp3"])
    assert [frame.lang for frame in tags.getall("USLT")] == ["spa"]
    assert str(tags["TLAN"]) == "spa"
    assert [frame.lang for frame in ID3(english["mp3"]).getall("USLT")] == ["eng"]  # the voice's language
    mp4 = MP4(spanish["m4a"])
    assert mp4.tags is not None and bytes(mp4.tags["----:com.apple.iTunes:LANGUAGE"][0]) == b"spa"
    audio = next(s for s in probe(spanish["m4a"])["streams"] if s["codec_type"] == "audio")
    assert audio["tags"]["language"] == "spa"  # the track header (mdhd) too
    ogg = OggVorbis(spanish["ogg"])
    assert ogg.tags is not None and ogg.tags["LANGUAGE"] == ["spa"]
    sidecar = work["batch"]["pared"]
    assert "[la:es]" in sidecar.with_suffix(".lrc").read_text(encoding="utf-8").splitlines()
    assert sidecar.with_suffix(".vtt").read_text(encoding="utf-8").startswith("WEBVTT\nLanguage: es\n\n")
    page = sidecar.with_suffix(".html").read_text(encoding="utf-8")
    assert '"language":"es"' in page
    assert work["timelines"]["pared"]["language"] == "es"


def test_the_feed_of_a_spanish_folder_says_spanish(work: dict, tmp_path: Path) -> None:
    from legsup_audio.share.feed import feed_xml
    from legsup_audio.share.library import Folder

    folder = tmp_path / "share"
    folder.mkdir()
    for path in (files(work, "pared")["m4a"], files(work, "pared")["ogg"], work["batch"]["pared"]):
        (folder / path.name).write_bytes(path.read_bytes())
    feed = feed_xml(Folder(folder).tracks(), "http://host:1").decode()
    assert "<language>es</language>" in feed
    (folder / "english.mp3").write_bytes(work["batch"]["paused"].read_bytes())
    assert "<language>" not in feed_xml(Folder(folder).tracks(), "http://host:1").decode()  # two: none claimed


# --------------------------------------------------------------------------- 4. chapters tile the file


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "ogg"])
def test_chapters_tile_the_whole_file(work: dict, fmt: str) -> None:
    path = files(work, "paused")[fmt]
    steps = work["timelines"]["paused"]["steps"]
    assert steps[0]["start"] == 2.0  # a lead-in the first chapter must cover
    length = float(probe(path)["format"]["duration"])
    chapters = ffprobe_chapters(path)
    assert [c["tags"]["title"] for c in chapters] == ["Arrive", "Rest [here]"]  # a title's brackets are its own
    assert float(chapters[0]["start_time"]) == 0.0
    assert abs(float(chapters[1]["start_time"]) - steps[1]["start"]) <= TOLERANCE_S
    assert chapters[0]["end_time"] == chapters[1]["start_time"]
    assert abs(float(chapters[-1]["end_time"]) - length) <= TOLERANCE_S, (chapters[-1], length)
    if fmt == "m4a":  # the Nero chpl list (AntennaPod) as well as the QuickTime track ffprobe reads
        nero = MP4(path).chapters
        assert nero is not None and [round(c.start, 3) for c in nero] == [0.0, round(steps[1]["start"], 3)]


# --------------------------------------------------------------------------- 5. captions let go


def lrc_lines(path: Path) -> list[tuple[float, str]]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if m := re.fullmatch(r"\[(\d+):(\d{2})\.(\d{2})\](.*)", raw):
            lines.append((int(m[1]) * 60 + int(m[2]) + int(m[3]) / 100, m[4]))
    return lines


def test_the_lrc_clears_and_the_vtt_ends_when_the_voice_stops(work: dict) -> None:
    track = work["batch"]["paused"]
    events = speech(work["timelines"]["paused"])
    lines = lrc_lines(track.with_suffix(".lrc"))
    worded = [line for line in lines if line[1]]
    assert len(worded) == len(events)
    for event in events:
        index = next(i for i, (t, text) in enumerate(lines) if text and abs(t - event["start"]) <= 0.01)
        upcoming = [t for t, text in lines[index + 1:] if text]
        if upcoming and upcoming[0] < event["end"] + 1.5:
            continue  # the next cue takes the screen first (a clear would last under half a second)
        cleared_at, text = lines[index + 1]
        assert text == "" and abs(cleared_at - (event["end"] + 1.0)) <= 0.01, (event, lines[index + 1])
    # After the last words, nothing stays on screen through the tail.
    assert lines[-1][1] == "" and lines[-1][0] < work["timelines"]["paused"]["duration"]
    captions = webvtt.read(str(track.with_suffix(".vtt")))
    for caption, event in zip(captions, events):
        assert abs(caption.end_time.in_milliseconds() / 1000 - event["end"]) <= 0.01


# --------------------------------------------------------------------------- 6. ReplayGain


def ebur128(path: Path) -> tuple[float, float]:
    # dualmono: a mono file as heard on two ears, as legsup reports it (no change to a stereo one).
    err = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=sample:dualmono=true",
                          "-f", "null", "-"], check=True, capture_output=True, text=True).stderr
    summary = err[err.rindex("Summary:"):]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Sample peak:\s+Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    return integrated, peak


def replaygain(path: Path) -> tuple[float, float]:
    suffix = path.suffix
    if suffix == ".mp3":
        frames = {frame.desc: str(frame) for frame in ID3(path).getall("TXXX")}
        gain, peak = frames["REPLAYGAIN_TRACK_GAIN"], frames["REPLAYGAIN_TRACK_PEAK"]
    elif suffix == ".m4a":
        tags = MP4(path).tags
        assert tags is not None
        gain, peak = (bytes(tags[f"----:com.apple.iTunes:replaygain_track_{k}"][0]).decode() for k in ("gain", "peak"))
    else:
        tags = OggVorbis(path).tags
        assert tags is not None
        gain, peak = tags["REPLAYGAIN_TRACK_GAIN"][0], tags["REPLAYGAIN_TRACK_PEAK"][0]
    assert re.fullmatch(r"[+-]\d+\.\d{2} dB", gain) and re.fullmatch(r"\d\.\d{6}", peak), (gain, peak)
    import math

    return float(gain.split()[0]), 20 * math.log10(float(peak))


@pytest.mark.parametrize("which", ["mp3", "m4a", "ogg", "voice-mp3", "spanish-mp3"])
def test_replaygain_agrees_with_ebur128_of_the_file(work: dict, which: str) -> None:
    path = {"voice-mp3": work["root"] / "voice" / "paused.mp3", "spanish-mp3": work["batch"]["pared"]}.get(
        which) or files(work, "paused")[which]
    gain, peak = replaygain(path)
    integrated, sample_peak = ebur128(path)
    assert abs((-18.0 - gain) - integrated) <= 0.5, (which, gain, integrated)
    assert abs(peak - sample_peak) <= 0.5, (which, peak, sample_peak)


def test_the_wrote_line_and_the_tag_say_the_same_loudness(work: dict) -> None:
    result = legsup("export", "paused.yaml", "-o", "again/paused.mp3", work=work)
    said = float(re.search(r"whole file (-?[\d.]+) LUFS", result.stdout).group(1))
    gain, _ = replaygain(work["root"] / "again" / "paused.mp3")
    assert abs((-18.0 - gain) - said) <= 0.05


# --------------------------------------------------------------------------- 7. no pause marks shown


def test_no_pause_mark_reaches_a_reader(work: dict) -> None:
    track = work["batch"]["paused"]
    shown = {
        "lyrics (USLT)": "\n".join(str(f) for f in ID3(track).getall("USLT")),
        "lyrics (MP4)": "\n".join((MP4(files(work, "paused")["m4a"]).tags or {}).get("\xa9lyr", [])),
        "lyrics (Vorbis)": "\n".join((OggVorbis(files(work, "paused")["ogg"]).tags or {}).get("LYRICS", [])),
        "chapters": "\n".join(str(f.sub_frames["TIT2"]) for f in ID3(track).getall("CHAP")),
        ".lrc": track.with_suffix(".lrc").read_text(encoding="utf-8"),
        ".vtt": track.with_suffix(".vtt").read_text(encoding="utf-8"),
        "page": track.with_suffix(".html").read_text(encoding="utf-8"),
        "timeline table": legsup("timeline", "paused.yaml", work=work, COLUMNS="200").stdout,  # one row a cue
    }
    legsup("timeline", "paused.yaml", "--labels", "labels.txt", "--html", "draft.html", work=work)
    shown["labels"] = (work["root"] / "labels.txt").read_text(encoding="utf-8")
    shown["draft page"] = (work["root"] / "draft.html").read_text(encoding="utf-8")
    for where, text in shown.items():
        assert not PAUSE_MARK.search(text), (where, PAUSE_MARK.search(text))
        assert "Let your arms rest. Now breathe." in text or where == "chapters", where
    # The words around each mark are kept, once, with single spaces; a bracket that is no pause stays.
    assert "Close your eyes and soften." in shown[".vtt"] and "Stay here a while." in shown[".lrc"]
    assert "Rest [here]" in shown["chapters"]


def test_timeline_json_keeps_the_text_and_adds_the_caption(work: dict) -> None:
    events = speech(work["timelines"]["paused"])
    first = events[0]
    assert first["text"] == "Let your arms rest. [2s] Now breathe."  # as written: the clip cache's key
    assert first["caption"] == "Let your arms rest. Now breathe."
    plain = [e for e in speech(work["timelines"]["pared"]) if "[" not in e["text"]]
    assert plain and all("caption" not in e for e in plain)  # only where the two differ
