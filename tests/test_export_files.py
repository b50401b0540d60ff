"""The export job's file handling, with the fake speech engine and the real ffmpeg.

What appears, and what never appears, when an export succeeds or fails part way:
the track and its captions are renamed into place together or not at all; the
copy to a phone skips identical files; the script keys ``album`` and ``cover``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

import legsup_audio.output.export as export_mod
from legsup_audio.errors import OutputError, ScriptError, UsageError
from legsup_audio.output.export import export_scripts, export_session, track_meta
from legsup_audio.pipeline import build, load
from legsup_audio.output.sync import check_destination, copy_files

SCRIPT = "title: Tiny Session\nlead_in: 0.2s\ntail: 0.3s\nsteps:\n  - title: One\n    cues:\n      - Hello there.\n"
OLD = b"an older export"


@pytest.fixture
def tiny(fake_workdir: Path) -> Path:
    path = fake_workdir / "tiny.yaml"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def test_a_complete_export_writes_the_track_and_both_captions(tiny: Path, fake_workdir: Path) -> None:
    result = export_session(build(tiny), fake_workdir / "out" / "t.mp3")
    assert sorted(p.name for p in (fake_workdir / "out").iterdir()) == ["t.lrc", "t.mp3", "t.vtt"]
    assert result.files == tuple(fake_workdir / "out" / n for n in ("t.mp3", "t.lrc", "t.vtt"))
    assert "Hello there." in (fake_workdir / "out" / "t.vtt").read_text(encoding="utf-8")


def test_a_failed_encode_leaves_nothing_and_keeps_the_old_track(
    tiny: Path, fake_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = fake_workdir / "out"
    out.mkdir()
    (out / "t.mp3").write_bytes(OLD)

    def broken_encode(*args: object, **kwargs: object) -> None:
        raise OutputError("ffmpeg could not encode mp3: boom")

    monkeypatch.setattr(export_mod, "encode", broken_encode)
    with pytest.raises(OutputError):
        export_session(build(tiny), out / "t.mp3")
    assert sorted(p.name for p in out.iterdir()) == ["t.mp3"]  # no captions, no temporary files
    assert (out / "t.mp3").read_bytes() == OLD


def test_when_the_track_cannot_be_renamed_its_new_captions_are_taken_back(
    tiny: Path, fake_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = fake_workdir / "out"
    out.mkdir()
    (out / "t.mp3").write_bytes(OLD)
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith(".mp3"):
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputError):
        export_session(build(tiny), out / "t.mp3")
    assert sorted(p.name for p in out.iterdir()) == ["t.mp3"]
    assert (out / "t.mp3").read_bytes() == OLD


def test_a_caption_name_is_refused_as_the_track_name(tiny: Path, fake_workdir: Path) -> None:
    with pytest.raises(UsageError, match="caption file"):
        export_session(build(tiny), fake_workdir / "t.lrc")


def test_track_meta_defaults_and_generated_cover(tiny: Path) -> None:
    meta = track_meta(build(tiny), track=2, track_total=5, year=2030)
    assert (meta.title, meta.artist, meta.album, meta.genre) == ("Tiny Session", "legsup-audio", "legsup-audio",
                                                                 "Meditation")
    assert (meta.track, meta.track_total, meta.year) == (2, 5, 2030)
    assert meta.cover_mime == "image/png"
    with Image.open(io.BytesIO(meta.cover or b"")) as img:
        assert img.size == (1000, 1000)


def test_album_and_cover_keys(fake_workdir: Path) -> None:
    art = fake_workdir / "art"
    art.mkdir()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(art / "c.jpg", format="JPEG")
    scripts = fake_workdir / "scripts"
    scripts.mkdir()
    path = scripts / "s.yaml"
    path.write_text("title: S\nalbum: My Album\ncover: ../art/c.jpg\nsteps:\n  - title: One\n    cues:\n"
                    "      - Hi.\n", encoding="utf-8")
    script = load(path)
    assert script.album == "My Album"
    assert script.cover is not None and script.cover.resolve() == (art / "c.jpg").resolve()
    meta = track_meta(build(path))
    assert meta.album == "My Album" and meta.cover_mime == "image/jpeg"
    assert meta.cover == (art / "c.jpg").read_bytes()


def test_a_missing_cover_is_a_script_error_at_its_position(fake_workdir: Path) -> None:
    path = fake_workdir / "s.yaml"
    path.write_text("title: S\ncover: nowhere.png\nsteps:\n  - title: One\n    cues:\n      - Hi.\n",
                    encoding="utf-8")
    with pytest.raises(ScriptError) as caught:
        load(path)
    assert caught.value.lines() == [
        f"{path}:2:8: cover image 'nowhere.png' not found (looked for {fake_workdir / 'nowhere.png'}); "
        "give a PNG or JPEG path relative to the script"
    ]


def test_a_batch_needs_a_folder(tiny: Path, fake_workdir: Path) -> None:
    (fake_workdir / "file").write_text("x")
    with pytest.raises(UsageError, match="names a folder"):
        export_scripts([tiny, tiny], output=fake_workdir / "file")
    with pytest.raises(UsageError, match="names a folder"):
        export_scripts([tiny, tiny], output=fake_workdir / "new.mp3")
    with pytest.raises(UsageError, match="--playlist takes a plain name"):
        export_scripts([tiny, tiny], output=fake_workdir / "d", playlist="a/b")


def test_copy_skips_identical_files_and_recopies_changed_ones(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = [src / "a.mp3", src / "a.lrc"]
    files[0].write_bytes(b"audio-1")
    files[1].write_bytes(b"lyrics")
    phone = tmp_path / "phone" / "Music"  # created: its parent exists
    (tmp_path / "phone").mkdir()
    first = copy_files(files, phone)
    assert [p.name for p in first.copied] == ["a.mp3", "a.lrc"] and first.skipped == ()
    assert first.summary() == f"copied 2 file(s) to {phone}"
    stamp = (phone / "a.lrc").stat().st_ino, (phone / "a.lrc").stat().st_mtime_ns
    files[0].write_bytes(b"audio-2")  # same size, other content
    second = copy_files(files, phone)
    assert [p.name for p in second.copied] == ["a.mp3"] and [p.name for p in second.skipped] == ["a.lrc"]
    assert (phone / "a.mp3").read_bytes() == b"audio-2"
    assert ((phone / "a.lrc").stat().st_ino, (phone / "a.lrc").stat().st_mtime_ns) == stamp
    third = copy_files(files, phone)
    assert third.copied == () and third.summary() == f"nothing to copy: all 2 files are already in {phone}"
    assert sorted(p.name for p in phone.iterdir()) == ["a.lrc", "a.mp3"]  # no temporary files


def test_copy_destination_checks(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is the phone or card mounted"):
        check_destination(tmp_path / "not-mounted" / "Music")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="that is a file"):
        check_destination(tmp_path / "f")
