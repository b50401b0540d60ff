"""The timeline page and label tracks without a browser: data, files, commands.

With the fake speech engine and the real ffmpeg: what the page data holds, that the
measured loudness of an export agrees with ffmpeg's ``ebur128``, that pages and
labels are written atomically and never over an input, that a cue's text cannot
break out of the page's inline JSON, and the ``--page``, ``--html`` and ``--labels``
options.  The page's behaviour in a browser is tested in ``test_page_browser.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audio_checks import ebur128
from legsup_audio.cli import app
from legsup_audio.errors import UsageError
from legsup_audio.output.export import export_scripts
from legsup_audio.output.page import labels_text, page_data, page_html, write_labels, write_page
from legsup_audio.output.page.model import FLOOR_DB
from legsup_audio.pipeline import build

SCRIPT = """\
title: Page <Test> & "Session"
author: Tester
lead_in: 0.5s
tail: 1s
background:
  drone: {note: A2, level: -30dB}
  bells: {at: steps, level: -20dB}
  fade_in: 1s
  fade_out: 1s
steps:
  - title: Arrive
    cues:
      - Hello there.
      - say: "Odd text </script><b>bold</b>\tand a tab"
        gap: 1s
  - title: Breathe
    cues:
      - Follow the breath.
    breathe:
      pattern: 4-6
      cycles: 2
  - title: Rest
    background:
      drone: {note: A2, level: -40dB}
    cues:
      - pause: 2s
      - Come back slowly.
"""


@pytest.fixture
def script(fake_workdir: Path) -> Path:
    path = fake_workdir / "page.yaml"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def embedded(page: str) -> dict:
    match = re.search(r'<script id="legsup-data" type="application/json">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def level_at(points: tuple[tuple[int, float], ...], t: int) -> float:
    """A breakpoint line's value at ``t``, joined linearly as the page draws it."""
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    raise ValueError(t)


def test_page_data_holds_steps_cues_marks_and_the_bed(script: Path) -> None:
    tl = build(script).timeline
    data = page_data(tl)
    assert [s.title for s in data.steps] == ["Arrive", "Breathe", "Rest"]
    assert [c.text for c in data.cues] == [e.text for e in tl.speech()]
    assert [c.start for c in data.cues] == [e.start for e in tl.speech()]
    kinds = {m.kind for m in data.marks}
    assert {"inhale", "exhale", "bell"} <= kinds
    assert data.envelope is None and data.audio is None
    (drone,) = data.bed
    assert drone.layer == "drone"
    points = dict(drone.points)
    assert points[0] == FLOOR_DB and drone.points[-1] == (tl.duration, FLOOR_DB)  # faded in and out
    assert max(points.values()) == -30.0  # its level in the first steps, away from speech
    rest = tl.step("rest")  # its own drone level, in its 2 s pause (after the crossfade, before the dip)
    assert level_at(drone.points, rest.start + 1000) == -40.0
    assert level_at(drone.points, tl.step("arrive").start - 100) < -30.0  # still fading in
    assert min(v for t, v in drone.points if 0 < t < tl.duration - 1000) <= -36.0 + 1e-9  # ducked 6 dB under speech


def test_cue_text_cannot_break_out_of_the_inline_json(script: Path) -> None:
    tl = build(script).timeline
    page = page_html(page_data(tl))
    assert page.count("</script>") == 2  # the data's and the code's, and no third from the cue's text
    data = embedded(page)
    assert data["cues"][1][4] == tl.speech()[1].text
    assert tl.speech()[1].text.startswith("Odd text </script><b>bold</b>")
    assert "<title>Page &lt;Test&gt; &amp; &quot;Session&quot; · timeline</title>" in page
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)  # nothing from another host


def test_labels_are_one_tab_separated_line_per_step_and_cue(script: Path) -> None:
    tl = build(script).timeline
    lines = labels_text(tl).splitlines()
    assert len(lines) == len(tl.steps) + len(tl.speech())
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 3 for row in rows)
    starts = [float(row[0]) for row in rows]
    assert starts == sorted(starts)
    assert rows[0] == [f"{tl.steps[0].start / 1000:.6f}", f"{tl.steps[0].end / 1000:.6f}", "1. Arrive"]
    assert rows[1][2] == "Hello there."  # the step's own label comes first, then its cues
    assert "Odd text </script><b>bold</b> and a tab" in [row[2] for row in rows]


def test_writing_never_overwrites_an_input_and_leaves_no_temporary_file(script: Path, fake_workdir: Path) -> None:
    tl = build(script).timeline
    before = script.read_bytes()
    with pytest.raises(UsageError, match="input"):
        write_page(script, page_data(tl), inputs=[script])
    with pytest.raises(UsageError, match="input"):
        write_labels(fake_workdir / "." / "page.yaml", tl, inputs=[script])
    assert script.read_bytes() == before
    target = fake_workdir / "drafts" / "p.html"
    write_page(target, page_data(tl), inputs=[script])
    assert sorted(p.name for p in target.parent.iterdir()) == ["p.html"]


def test_timeline_html_and_labels_options(script: Path, fake_workdir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["timeline", str(script), "--html", "draft.html", "--labels", "labels.txt"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["wrote draft.html", "wrote labels.txt"]
    data = embedded((fake_workdir / "draft.html").read_text(encoding="utf-8"))
    assert data["audio"] is None and data["envelope"] is None
    spoken = build(script).timeline.speech()  # the cues and the breathing guide's words
    assert [c[4] for c in data["cues"]] == [e.text for e in spoken]
    assert (fake_workdir / "labels.txt").read_text(encoding="utf-8").count("\n") == 3 + len(spoken)
    result = runner.invoke(app, ["timeline", str(script), "--html", str(script)])
    assert result.exit_code == 2
    assert "would overwrite" in result.output and script.read_text(encoding="utf-8") == SCRIPT
    result = runner.invoke(app, ["timeline", str(script), "--html", "same.txt", "--labels", "same.txt"])
    assert result.exit_code == 2 and not (fake_workdir / "same.txt").exists()
    result = runner.invoke(app, ["timeline", str(script), "--json", "--labels", "l2.txt"])
    assert result.exit_code == 0 and json.loads(result.output)["title"] == 'Page <Test> & "Session"'
    assert (fake_workdir / "l2.txt").exists()


def test_export_page_measures_the_written_track(script: Path, fake_workdir: Path) -> None:
    batch = export_scripts([script], output=fake_workdir / "out" / "my session.mp3", page=True)
    (track,) = batch.tracks
    assert track.page == fake_workdir / "out" / "my session.html"
    assert track.files[-1] == track.page
    data = embedded(track.page.read_text(encoding="utf-8"))
    assert data["audio"] == "my%20session.mp3" and data["audio_name"] == "my session.mp3"
    env = data["envelope"]
    assert env["bin"] == 200
    assert len(env["peak"]) == len(env["loudness"]) == -(-data["duration"] // 200)
    measured = ebur128(track.path)
    assert abs(env["integrated"] - measured.integrated) <= 0.2, (env["integrated"], measured)
    assert env["max_peak"] <= -0.9  # mastered under -1 dBTP; a sample peak is never above the true peak
    first = data["cues"][0][0] // 200
    assert max(env["loudness"][first: first + 5]) > -30  # loud where the first cue speaks
    assert env["peak"][0] < env["max_peak"] - 20  # the first 200 ms: the bed only begins to fade in
    assert env["heard"] == 0.0  # a bed: stereo, drawn as measured
    assert sorted(p.name for p in track.path.parent.iterdir()) == [
        "my session.html", "my session.lrc", "my session.mp3", "my session.vtt"]


def test_a_voice_only_page_draws_its_mono_track_as_heard(script: Path, fake_workdir: Path) -> None:
    """A mono file plays on both ears: its loudness is drawn and given as heard (dual mono, 3 dB over
    plain BS.1770), so the voice meets the -16 LUFS line as a stereo track's does."""
    (track,) = export_scripts([script], output=fake_workdir / "v.mp3", page=True, background=False).tracks
    env = embedded(track.page.read_text(encoding="utf-8"))["envelope"]
    assert env["heard"] == pytest.approx(3.01, abs=0.01)
    assert abs(env["integrated"] - ebur128(track.path, dualmono=True).integrated) <= 0.2
    data = embedded(track.page.read_text(encoding="utf-8"))
    speaking = [max(env["loudness"][c[0] // 200 : c[1] // 200]) for c in data["cues"] if c[1] - c[0] >= 1000]
    assert speaking and all(abs(v - (-16.0)) <= 3.0 for v in speaking), speaking


def test_export_page_option(script: Path, fake_workdir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["export", str(script), "-o", "out/s.ogg", "--format", "ogg", "--page"])
    assert result.exit_code == 0, result.output
    assert "wrote out/s.html (timeline page)" in result.output
    assert embedded((fake_workdir / "out" / "s.html").read_text(encoding="utf-8"))["audio"] == "s.ogg"
