"""Tests for legsup_audio.script.parse: the typed CueScript it builds, and how it reports problems.

The golden fixtures (``golden/broken``) cover the main error messages end to end; these
tests pin the model the parser produces and the rarer corners of the loader.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from legsup_audio.errors import ScriptError
from legsup_audio.model import DEFAULT_GAP_MS, DEFAULT_LEAD_IN_MS, DEFAULT_TAIL_MS, Pause, Pos, Say, Wait
from legsup_audio.script.parse import parse_script, slug
from legsup_audio.script.suggest import suggest


def parse(text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return parse_script("x.yaml", text=text, **kwargs)  # type: ignore[arg-type]


def problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ScriptError) as info:
        parse(text, **kwargs)
    return info.value.lines()


FULL = """\
title: Full
author: Someone
voice: calm
gap: 2s
lead_in: 0.5s
tail: 1m
steps:
  - title: First Step
    duration: 1:30
    cues:
      - Plain text.
      - say: With a gap.
        gap: 3s
      - pause: 10s
      - at: 1m
        say: Timed.
      - at: 80s
  - title: Second
    id: two_2
    cues: [Hi]
"""


def test_full_script_model() -> None:
    script = parse(FULL, known_voices=["calm", "default"])
    assert (script.title, script.author, script.voice, script.voice_pos) == ("Full", "Someone", "calm", Pos(3, 8))
    assert (script.gap, script.lead_in, script.tail) == (2000, 500, 60_000)
    assert script.id == "x" and script.path == Path("x.yaml")
    first, second = script.steps
    assert (first.title, first.id, first.pos, first.duration) == ("First Step", "first-step", Pos(8, 5), 90_000)
    assert first.cues == (
        Say("Plain text.", Pos(11, 9)),
        Say("With a gap.", Pos(12, 9), gap=3000),
        Pause(10_000, Pos(14, 9)),
        Say("Timed.", Pos(15, 9), at=60_000, at_pos=Pos(15, 13)),
        Wait(80_000, Pos(17, 9)),
    )
    # An explicit id: the step's position is its id's, so duplicate-id errors point at it.
    assert (second.id, second.pos, second.duration) == ("two_2", Pos(19, 9), None)
    assert second.cues == (Say("Hi", Pos(20, 12)),)
    assert script.spoken_texts() == ["Plain text.", "With a gap.", "Timed.", "Hi"]


def test_defaults() -> None:
    script = parse("title: T\nsteps:\n  - title: S\n    cues: [a]\n")
    assert (script.gap, script.lead_in, script.tail) == (DEFAULT_GAP_MS, DEFAULT_LEAD_IN_MS, DEFAULT_TAIL_MS)
    assert (script.voice, script.voice_pos, script.author) == ("default", None, None)


def test_script_id_and_display() -> None:
    script = parse_script("some/where/my-session.yaml", text="title: T\nsteps: [{title: S, cues: [a]}]\n")
    assert script.id == "my-session"
    assert parse_script("a.yaml", text="title: T\nsteps: [{title: S, cues: [a]}]\n", script_id="named").id == "named"
    with pytest.raises(ScriptError) as info:
        parse_script("/abs/path/b.yaml", text="title: T\n", display="b.yaml")
    assert info.value.lines() == ["b.yaml:1:1: the script has no 'steps'"]


def test_text_is_normalised_and_taken_as_written() -> None:
    script = parse(
        "title: T\nsteps:\n  - title: S\n    cues:\n"
        "      - '  spaced   out  '\n"
        "      - yes\n"
        "      - 12\n"
        "      - 'null'\n"
        "      - |\n"
        "        two\n"
        "        lines\n"
    )
    assert [c.text for c in script.steps[0].cues] == ["spaced out", "yes", "12", "null", "two lines"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufefftitle: Übung\nsteps:\n  - title: S\n    cues: [Grüß dich]\n".encode())
    script = parse_script(path)
    assert script.title == "Übung"
    assert script.steps[0].cues[0] == Say("Grüß dich", Pos(4, 12))


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Getting down to the floor", "getting-down-to-the-floor"),
        ("  Legs up: the wall!  ", "legs-up-the-wall"),
        ("Step 2 -- rest", "step-2-rest"),
        ("Café", "caf"),
        ("呼吸", ""),
    ],
)
def test_slug(title: str, expected: str) -> None:
    assert slug(title) == expected


def test_non_ascii_title_gets_a_numbered_id() -> None:
    script = parse("title: T\nsteps:\n  - title: A\n    cues: [a]\n  - title: 呼吸\n    cues: [b]\n")
    assert [s.id for s in script.steps] == ["a", "step-2"]


def test_suggest() -> None:
    assert suggest("duraton", ["title", "id", "duration", "cues"]) == " (did you mean 'duration'?)"
    assert suggest("zzz", ["title", "id"]) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["x.yaml:1:1: the file is empty: a cue script needs at least a title and steps"]),
        ("- a\n- b\n", ["x.yaml:1:1: a cue script must be a mapping of keys to values, not a list"]),
        ("title: T\nsteps: {a: 1}\n",
         ["x.yaml:2:8: steps must be a list of steps (each starting with '- title:'), not a mapping"]),
        ("title: ''\nsteps: [{title: S, cues: [a]}]\n", ["x.yaml:1:8: title is empty"]),
        ("version: 2\ntitle: T\nsteps: [{title: S, cues: [a]}]\n",
         ["x.yaml:1:10: this version of legsup reads cue scripts of version 1"]),
        ("title: &t T\nsteps: [{title: *t, cues: [a]}]\n",
         ["x.yaml:1:8: YAML anchors and aliases (& and *) are not allowed in cue scripts; text that starts with "
          "'&' or '*' must be in quotes"]),
        ("title: T\nsteps:\n  - title: S\n    id: bad id!\n    cues: [a]\n",
         ["x.yaml:4:9: step id 'bad id!' may hold only letters, digits, '-' and '_'"]),
        ("title: T\nsteps:\n  - title: S\n    cues:\n\t- a\n",
         ["x.yaml:5:1: this line is indented with a tab: YAML allows only spaces for indentation; replace the tab "
          "with spaces, lined up with the lines above (an editor's 'convert tabs to spaces' does it)"]),
        ("title: T\nbackground: {nosie: {color: pink}}\nsteps: [{title: S, cues: [a]}]\n",
         ["x.yaml:2:14: unknown background layer 'nosie' (did you mean 'noise'?); layers: drone, binaural, "
          "isochronic, noise, music, bells; settings: fade_in, fade_out, duck"]),
        ("title: T\nsteps:\n  - title: S\n    cues: [a]\n    at: 5s\n",
         ["x.yaml:5:5: unknown key 'at' in step 1"]),
        ("title: T\nsteps:\n  - Hello\n",
         ["x.yaml:3:5: step 1 must be a mapping of keys to values, not 'Hello'"]),
        ("title: T\nsteps:\n  - title: S\n    cues: [a, null]\n", ["x.yaml:4:15: the cue's text is empty"]),
    ],
)
def test_problems(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_voice_is_checked_only_against_known_profiles() -> None:
    text = "title: T\nvoice: nope\nsteps: [{title: S, cues: [a]}]\n"
    assert parse(text).voice == "nope"  # no list of profiles given: not checked here
    assert problems(text, known_voices=["calm"]) == [
        "x.yaml:2:8: unknown voice profile 'nope'; known profiles: calm"
    ]


def test_every_problem_is_reported_sorted_by_line() -> None:
    text = (
        "tail: soon\n"              # 1
        "steps:\n"                  # 2
        "  - title: A\n"            # 3
        "    cues: [{pause: -1}]\n" # 4
        "  - title: A\n"            # 5
        "    cues: [a]\n"           # 6
        "  - title: A\n"            # 7
        "    cues: [b]\n"           # 8
        "titel: T\n"                # 9
    )
    lines = problems(text)
    # `titel` is one error (with its suggestion), not also "the script has no 'title'" (#17)
    assert [line.split(":")[1] for line in lines] == ["1", "4", "7", "9"]
    assert lines[0].startswith("x.yaml:1:7: tail: 'soon' is not a duration")
    assert lines[1] == "x.yaml:4:20: pause: a duration cannot be negative (got '-1')"
    # step 1 is broken, so step 3 duplicates step 2's id, not step 1's
    assert lines[2].startswith("x.yaml:7:5: duplicate step id 'a' (also used by the step on line 5)")
    assert lines[3] == "x.yaml:9:1: unknown key 'titel' in the script (did you mean 'title'?)"


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script(tmp_path / "nope.yaml", display="nope.yaml")
    assert info.value.lines() == ["nope.yaml:1:1: no such file"]
    with pytest.raises(ScriptError) as info:
        parse_script(tmp_path, display="folder")
    assert info.value.lines() == ["folder:1:1: is a folder, not a cue script"]


# --- bugs found while writing these tests ------------------------------------------------


def test_control_character_is_one_line_at_its_position() -> None:
    # A control character (here BEL, U+0007) is a PyYAML ReaderError, which is not a
    # MarkedYAMLError: load_yaml reports it at 1:1 with str(exc), whose second line is
    # '  in "<unicode string>", position 49'.  It should be one line at 5:11.
    lines = problems('title: t\nsteps:\n  - title: a\n    cues:\n      - "a\x07b"\n')
    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert lines[0].startswith("x.yaml:5:11: ")


def test_boolean_duration_message_quotes_what_was_written() -> None:
    # read_duration computes `value = node.value == "true"` and then passes True anyway,
    # so `gap: no` is reported as "expected a duration, got True".
    [line] = problems("title: T\ngap: no\nsteps: [{title: S, cues: [a]}]\n")
    assert line.startswith("x.yaml:2:6: gap: ")
    assert "True" not in line


def test_second_document_message_reads_as_a_sentence() -> None:
    # Only exc.problem is used, so the message is "YAML syntax error: but found another
    # document"; exc.context ("expected a single document in the stream") is lost.
    [line] = problems("title: T\nsteps: [{title: S, cues: [a]}]\n---\ntitle: U\n")
    assert line.startswith("x.yaml:3:1: a second document starts here ('---')")
    assert "single document" in line


def test_not_utf8_column_counts_characters(tmp_path: Path) -> None:
    # Everywhere else columns count characters (PyYAML marks); for a non-UTF-8 byte after
    # 'é' (two bytes in UTF-8) the column is one too far to the right.
    path = tmp_path / "latin.yaml"
    path.write_bytes("title: T\nsteps:\n  - title: Café\n    cues: [Olé \xff]\n".encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(ScriptError) as info:
        parse_script(path, display="latin.yaml")
    assert info.value.lines() == ["latin.yaml:4:16: the file is not UTF-8 text; save it as UTF-8"]
