"""The ``legsup play`` panel, drawn by ``display.render`` for a fake session (no terminal).

What the listener reads must be true at that moment: the cue line shows the cue being
said (and a moment after), then the breath and its count through tone-only breathing,
and "Rest" through a long silence, never words said minutes ago; the keys line says
"space resume" while paused; the panel keeps one height whatever the text and however
the lines wrap; elapsed and remaining add up to the length shown, to the second.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass

import pytest
from rich.console import Console

from legsup_audio.compile.timeline import Event, StepSpan, Timeline
from legsup_audio.playback.display import CUE_LINGER_MS, render

LONG_CUE = ("Let the backs of your legs rest against the wall, heels soft, knees loose, and feel the weight "
            "of your hips sink into the floor as your breath slows down and your shoulders melt away from "
            "your ears, one breath at a time, with nothing at all to do.")


@dataclass
class FakeControl:
    """What ``render`` reads of a ``SessionControl``."""

    timeline: Timeline
    total_ms: int
    paused: bool = False
    total_exact: bool = True  # False while a cold play is still speaking the rest


def breathing_timeline() -> Timeline:
    """Words for one breath ("And out" last), then tone-only breaths, then 90 s of silence."""
    steps = (StepSpan("breathe", "Breathing", 1000, 61_000, 5), StepSpan("rest", "Resting", 61_000, 151_500, 20))
    events = [Event("speech", 1000, 3000, "breathe", 6, "Breathe with me now.")]
    for cycle in range(1, 6):  # cycle 1 spoken, 2-5 tones only
        start = 5000 + (cycle - 1) * 10_000
        events.append(Event("inhale", start, start + 4000, "breathe", 8, data=(("cycle", cycle),)))
        events.append(Event("exhale", start + 4000, start + 10_000, "breathe", 8, data=(("cycle", cycle),)))
        if cycle == 1:
            events.append(Event("speech", start, start + 700, "breathe", 9, "Breathe in", (("guide", "words"),)))
            events.append(Event("speech", start + 4000, start + 4700, "breathe", 9, "And out", (("guide", "words"),)))
        else:
            events.append(Event("tone", start, start + 4000, "breathe", 9, data=(("pitch", "rising"),)))
    events.append(Event("speech", 61_000, 64_000, "rest", 21, LONG_CUE))
    events.sort(key=lambda e: (e.start, e.kind))
    return Timeline("An Evening Session With A Title Long Enough To Need Cutting In A Narrow Terminal",
                    151_500, steps, tuple(events))


def draw(control: FakeControl, ms: int, width: int = 80, **kwargs: bool) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(render(control, ms, width=width, **kwargs))  # type: ignore[arg-type]
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def cue_text(lines: list[str]) -> str:
    """The panel's cue rows (the 4th and 5th lines: border, padding, step, blank, cue...)."""
    return " ".join(line.strip("│ ") for line in lines[4:6]).strip()


def test_the_cue_line_follows_what_is_happening_not_the_last_words() -> None:
    control = FakeControl(breathing_timeline(), 151_500)
    assert cue_text(draw(control, 9_500)) == "And out"  # being said
    assert cue_text(draw(control, 9_000 + 700 + CUE_LINGER_MS - 1)) == "And out"  # read a moment after
    assert cue_text(draw(control, 9_000 + 700 + CUE_LINGER_MS + 100)) == "Breathe out · breath 1 of 5"
    assert cue_text(draw(control, 16_000)) == "Breathe in · breath 2 of 5"  # tone only: no words
    assert cue_text(draw(control, 52_000)) == "Breathe out · breath 5 of 5"
    assert cue_text(draw(control, 120_000)) == "Rest"  # a long silence: the cue said at 61 s is gone
    assert cue_text(draw(control, 500)) == ""  # before the first step
    for ms in range(14_000, 60_000, 500):
        assert "And out" not in cue_text(draw(control, ms)), ms


def test_space_says_resume_while_paused() -> None:
    control = FakeControl(breathing_timeline(), 151_500)
    playing = "\n".join(draw(control, 20_000))
    assert "space pause" in playing and "· playing" in playing
    control.paused = True
    paused = "\n".join(draw(control, 20_000))
    assert "space resume" in paused and "space pause" not in paused and "· paused" in paused


@pytest.mark.parametrize("width", [40, 60, 80, 132])
def test_the_panel_keeps_one_height_and_fits_the_width(width: int) -> None:
    control = FakeControl(breathing_timeline(), 151_500)
    heights = set()
    for ms in [0, 1000, 2000, 9_500, 16_000, 61_500, 62_000, 90_000, 151_500]:
        for paused in (False, True):
            control.paused = paused
            lines = draw(control, ms, width)
            heights.add(len(lines))
            assert all(len(line) <= width for line in lines), (ms, lines)
    lines = draw(control, 151_500, width, finished=True)
    heights.add(len(lines))
    assert heights == {13}, heights
    long_cue = cue_text(draw(control, 62_000, width))
    if width <= 80:  # it needs more than two lines: cut, not wrapped onto a third
        assert long_cue.endswith("…") and long_cue.startswith("Let the backs")
    else:
        assert long_cue == LONG_CUE


TIMES = re.compile(r"(\d+:\d\d(?::\d\d)?) / (\d+:\d\d(?::\d\d)?)\s+(\d+:\d\d(?::\d\d)?) left")


def seconds(clock: str) -> int:
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total


@pytest.mark.parametrize("total_ms", [151_500, 840_393, 840_000, 3_725_999])
def test_elapsed_and_left_add_up_to_the_length_shown(total_ms: int) -> None:
    timeline = breathing_timeline()
    control = FakeControl(Timeline(timeline.title, total_ms, timeline.steps, timeline.events), total_ms)
    rng = random.Random(total_ms)
    for ms in [0, 1, 999, 1000, 1001, total_ms - 1001, total_ms - 999, total_ms - 1, total_ms,
               *(rng.randrange(total_ms) for _ in range(200))]:
        [match] = [m for line in draw(control, ms, 100) if (m := TIMES.search(line))]
        elapsed, length, left = (seconds(g) for g in match.groups())
        assert elapsed + left == length == total_ms // 1000, (ms, match.group(0))
        assert elapsed == ms // 1000
    [match] = [m for line in draw(control, total_ms, 100) if (m := TIMES.search(line))]
    assert seconds(match.group(3)) == 0, "the end leaves nothing"


def test_a_length_still_being_spoken_is_marked_as_a_guess() -> None:
    timeline = breathing_timeline()
    guessed = FakeControl(timeline, timeline.duration, total_exact=False)
    [line] = [line for line in draw(guessed, 5000, 100) if " left" in line]
    assert "/ ~" in line and " ~" in line.split("/")[1]  # the length and the time left are both guesses
    [exact] = [line for line in draw(FakeControl(timeline, timeline.duration), 5000, 100) if " left" in line]
    assert "~" not in exact and TIMES.search(exact)


def test_the_cue_is_shown_as_read_without_its_pause_marks() -> None:
    from legsup_audio.playback.session import progress_lines

    steps = (StepSpan("rest", "Resting", 0, 20_000, 3),)
    said = "Let the legs rest. [2s] Breathe out... [pause 800ms] Soften."
    timeline = Timeline("Marks", 20_000, steps, (Event("speech", 1000, 9000, "rest", 4, said),))
    shown = "\n".join(draw(FakeControl(timeline, 20_000), 3000, 120))
    assert "Let the legs rest." in shown and "Soften" in shown
    assert "[2s]" not in shown and "800ms" not in shown
    [line] = progress_lines(timeline, 0, 2000)[1:]
    assert line.endswith("Soften.") and "[" not in line.split("—")[1]
