"""The built-in sessions are paced for someone lying on the floor with their eyes closed (issue #16).

The listener cannot read ahead or glance at a screen: when a cue asks them to move
(fetch props, get down to the floor, swing the legs up, shift the hips, place a towel,
a strap or a ball, roll to one side, press up to sitting), the voice must then leave
them the seconds that movement takes, not the 1.5 s between two read sentences.

Each built-in script is parsed and compiled with the fake engine's lengths (the gaps,
pauses and `at:` times, which set the silences, are exact whatever the voice), and:

- every cue whose text asks for a movement is followed by at least ``SMALL_MOVE_S``
  seconds before the next spoken word, ``BIG_MOVE_S`` for a whole-body movement;
- at most ``MAX_SHARE_1_5`` of the silences between the script's own cues are 1.5 s;
- the chair is offered before the instruction to press up (and before the one to
  get down), not after it.

A cue asks for a movement when one of its clauses starts with an imperative from the
lists below (after "now", "then", "slowly" and the like; "If ..., loop a strap" counts,
"you can lean on it" does not).  The last tests feed the checks scripts written the old
way, so a check that could never fail would show up there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from legsup_audio.compile.compiler import compile_script
from legsup_audio.compile.timeline import Timeline
from legsup_audio.script.parse import parse_script
from legsup_audio.speech.fake import fake_length_ms
from legsup_audio.speech.pacing import display

REPO = Path(__file__).resolve().parents[1]
BUILTINS = sorted((REPO / "scripts").glob("*.yaml"))
SESSIONS_WITH_THE_POSE = [p for p in BUILTINS if p.stem != "breathing-only"]

SMALL_MOVE_S = 5.0  # place a towel, loop a strap, shift the hips, slide the arms
BIG_MOVE_S = 10.0  # get down to the floor, swing the legs up, roll to the side, press up to sitting
MAX_SHARE_1_5 = 0.10  # today's default session had 33 of 74

# Imperatives that ask the body to move, as a clause starts (lower case, regular expressions).
BIG_MOVES = [
    r"lower yourself", r"lower the back knee", r"swing", r"lift one leg", r"roll", r"press (yourself )?up",
    r"push (yourself )?up", r"use your hands to press", r"walk your hips", r"rise slowly", r"crawl",
    # Spanish
    r"baja despacio", r"sube las piernas", r"gira", r"rueda", r"empuja", r"incorpórate", r"desliza la cadera",
]
SMALL_MOVES = [
    r"gather", r"collect", r"lay your mat", r"lay a mat", r"place", r"put", r"set (it|them|aside|your|the)",
    r"loop", r"tuck", r"slide", r"shift", r"shuffle", r"wiggle", r"ease your hips", r"move", r"sit", r"lie down",
    r"lean", r"lift", r"bend", r"reach for", r"hold the chair", r"take (a small step|your towel)", r"stand",
    r"bring (one|the other|your arms|your legs)", r"press your tailbone", r"let your feet slide", r"sweep",
    # Spanish
    r"reúne", r"coloca", r"pon", r"siéntate", r"túmbate", r"apóyate", r"acércate", r"aléjate", r"separa",
    r"desliz[aá]\w*", r"dobla", r"levanta", r"aparta", r"lleva el coxis", r"camina", r"pasa la cinta",
    r"deja (todo|los brazos|la cadera)", r"apoya (ahora )?una mano en",
]
LEADERS = re.compile(r"^(now|then|and|y|slowly|gently|very|carefully|first|next|ahora|luego|despacio|después)\b[\s,]*")
CLAUSE = re.compile(r"[.;:!?]|,|\band\b|\bthen\b|\by\b|\bluego\b|\bdespués\b")
BIG = re.compile(r"(?:%s)\b" % "|".join(BIG_MOVES))
SMALL = re.compile(r"(?:%s)\b" % "|".join(SMALL_MOVES))

CHAIR = re.compile(r"\b(chair|silla)\b", re.IGNORECASE)
# The instruction to get up off the floor, and the one to get down to it.
UP = re.compile(r"\b(press|push)(es)?( yourself)? up\b|use your hands to press|\bempuja\b", re.IGNORECASE)
DOWN = re.compile(r"\blower yourself\b|\blower the back knee\b|\bbaja despacio\b", re.IGNORECASE)


@dataclass(frozen=True)
class Silence:
    text: str  # the cue before it, as heard (inline pauses left out)
    line: int
    step: str
    seconds: float  # from the end of that cue's speech to the next spoken word (or the end)


def compiled(path: Path, text: str | None = None) -> Timeline:
    script = parse_script(path, text=text, display=path.name)
    return compile_script(script, fake_length_ms)


def silences(timeline: Timeline) -> list[Silence]:
    """The quiet after each of the script's own cues (breath-guide words are not cues)."""
    speech = timeline.speech()
    out = []
    for i, event in enumerate(speech):
        if event.get("guide") is not None:
            continue
        following = speech[i + 1].start if i + 1 < len(speech) else timeline.duration
        out.append(Silence(display(event.text or ""), event.line, event.step, (following - event.start
                                                                              - event.duration) / 1000))
    return out


def movement(text: str) -> str | None:
    """"big", "small" or None: how much the cue asks the body to move."""
    found = None
    for clause in CLAUSE.split(text.lower()):
        clause = clause.strip()
        while (lead := LEADERS.match(clause)) and lead.end():
            clause = clause[lead.end():]
        if BIG.match(clause):
            return "big"
        if SMALL.match(clause):
            found = "small"
    return found


def too_hurried(timeline: Timeline) -> list[str]:
    problems = []
    for s in silences(timeline):
        kind = movement(s.text)
        need = {"big": BIG_MOVE_S, "small": SMALL_MOVE_S}.get(kind or "", 0.0)
        if s.seconds + 1e-9 < need:
            problems.append(f"line {s.line} ({kind} move): {s.seconds:g}s after {s.text!r}, needs {need:g}s")
    return problems


def share_of_1_5(timeline: Timeline) -> float:
    quiet = [s.seconds for s in silences(timeline)[:-1]]  # the last one runs to the end of the file
    return sum(1 for q in quiet if abs(q - 1.5) < 0.0005) / len(quiet)


def chair_out_of_order(timeline: Timeline) -> list[str]:
    """The chair must be offered before the voice says to get down, and before it says to get up."""
    problems = []
    cues = [(s.step, s.line, s.text) for s in silences(timeline)]
    seen_chair = False
    for step, line, text in cues:
        down = DOWN.search(text)
        chair = CHAIR.search(text)
        if down and not seen_chair and not (chair and chair.start() < down.start()):
            problems.append(f"line {line}: {text!r} asks to get down before the chair is offered")
        seen_chair = seen_chair or chair is not None
    ups = [(i, m) for i, (_, _, text) in enumerate(cues) if (m := UP.search(text))]
    for i, m in ups[:1]:  # the first instruction to get up: the chair must be offered in its step, before it
        step, line, text = cues[i]
        before = [t for s, _, t in cues[:i] if s == step] + [text[:m.start()]]
        if not any(CHAIR.search(t) for t in before):
            problems.append(f"line {line}: {text!r} asks to get up before the chair is offered")
    return problems


# --- the built-in sessions --------------------------------------------------------------------


@pytest.mark.parametrize("path", BUILTINS, ids=lambda p: p.stem)
def test_every_movement_is_given_time(path: Path) -> None:
    timeline = compiled(path)
    assert too_hurried(timeline) == []


@pytest.mark.parametrize("path", SESSIONS_WITH_THE_POSE, ids=lambda p: p.stem)
def test_the_sessions_ask_for_the_movements_of_the_pose(path: Path) -> None:
    """The detector sees the movements of the pose in each session (else the check above is empty)."""
    kinds = [movement(s.text) for s in silences(compiled(path))]
    assert kinds.count("big") >= 3 and kinds.count("big") + kinds.count("small") >= 8, kinds


@pytest.mark.parametrize("path", BUILTINS, ids=lambda p: p.stem)
def test_few_silences_are_the_reading_pause(path: Path) -> None:
    assert share_of_1_5(compiled(path)) <= MAX_SHARE_1_5


@pytest.mark.parametrize("path", SESSIONS_WITH_THE_POSE, ids=lambda p: p.stem)
def test_the_chair_is_offered_before_getting_down_and_up(path: Path) -> None:
    timeline = compiled(path)
    texts = [s.text for s in silences(timeline)]
    assert any(UP.search(t) for t in texts) and any(DOWN.search(t) for t in texts)  # the check has work to do
    assert chair_out_of_order(timeline) == []


def test_the_rest_stays_long() -> None:
    """The quiet rest is the point of the pose: the default session keeps over two minutes of it."""
    timeline = compiled(REPO / "scripts" / "legs-up-the-wall.yaml")
    rest = next(s for s in timeline.steps if s.id == "rest")
    assert (rest.end - rest.start) / 1000 >= 120
    assert max(s.seconds for s in silences(timeline)) >= 30


# --- the checks can fail ----------------------------------------------------------------------

OLD_WAY = """\
title: Read, not moved
gap: 1.5s
steps:
  - title: Getting down
    cues:
      - Find a clear stretch of wall, and lay your mat alongside it.
      - Lower yourself slowly to the floor.
      - If getting down is hard, place a sturdy chair next to you.
  - title: Setting up
    cues:
      - Sit sideways near the wall. Lean back onto your elbows, and swing your legs up onto the wall.
      - Now take your towel. Fold or roll it, and slide it under the small of your back.
      - say: If your feet roll outward, loop a strap around the calves.
        gap: 3s
      - It keeps the legs in line.
  - title: Coming back
    cues:
      - Bend your knees, and roll onto one side.
      - When you are ready, use your hands to press yourself up slowly to sitting.
      - If you need support, reach for your chair, and take your time.
      - Thank you.
"""


def test_the_checks_catch_a_script_paced_for_reading() -> None:
    """The old default's faults, in small: each check reports them."""
    timeline = compiled(Path("old.yaml"), OLD_WAY)
    hurried = too_hurried(timeline)
    assert [p.split(" ")[1] for p in hurried] == ["6", "7", "8", "11", "12", "13", "18", "19", "20"], hurried
    assert hurried[3] == ("line 11 (big move): 1.5s after 'Sit sideways near the wall. Lean back onto your elbows, "
                          "and swing your legs up onto the wall.', needs 10s")
    assert hurried[5].startswith("line 13 (small move): 3s after")
    assert share_of_1_5(timeline) > MAX_SHARE_1_5
    out_of_order = chair_out_of_order(timeline)
    assert len(out_of_order) == 2, out_of_order
    assert out_of_order[0].startswith("line 7:") and "get down before the chair" in out_of_order[0]
    assert out_of_order[1].startswith("line 19:") and "get up before the chair" in out_of_order[1]


PACED_FOR_MOVING = """\
title: Moved, not read
gap: 2s
steps:
  - title: Getting down
    cues:
      - say: Find a clear stretch of wall, and lay your mat with one short end against it.
        gap: 8s
      - say: If getting down is hard, place a sturdy chair next to you.
        gap: 6s
      - say: Lower yourself slowly to the floor.
        gap: 12s
  - title: Setting up
    cues:
      - say: Sit sideways near the wall. Lean back onto your elbows, and swing your legs up onto the wall.
        gap: 12s
      - say: Now take your towel. Fold or roll it, and slide it under the small of your back.
        gap: 10s
      - say: If your feet roll outward, loop a strap around the calves.
        gap: 10s
      - It keeps the legs in line.
  - title: Coming back
    cues:
      - say: Bend your knees, and roll onto one side.
        gap: 10s
      - say: If you need support, reach for your chair.
        gap: 5s
      - say: When you are ready, use your hands to press yourself up slowly to sitting.
        gap: 12s
      - Thank you.
"""


def test_the_checks_pass_the_same_script_paced_for_moving() -> None:
    """What the checks ask for is enough: time after each movement, and the chair offered first."""
    timeline = compiled(Path("paced.yaml"), PACED_FOR_MOVING)
    assert too_hurried(timeline) == []
    assert share_of_1_5(timeline) == 0
    assert chair_out_of_order(timeline) == []


@pytest.mark.parametrize(("text", "kind"), [
    ("Lay your mat with one short end against a clear stretch of wall.", "small"),
    ("If your feet keep rolling inward or outward, loop a strap around your calves.", "small"),
    ("Now shift a little closer, or a little further out.", "small"),
    ("Lean back onto your elbows. Then swing your legs up onto the wall.", "big"),
    ("Bend your knees, and let your feet slide down the wall toward you. Then roll onto one side.", "big"),
    ("When you are ready, use your hands to press yourself up slowly to sitting.", "big"),
    ("Apóyate en los codos y sube las piernas por la pared.", "big"),
    ("Coloca la toalla enrollada bajo la curva de la zona lumbar.", "small"),
    ("Notice your hips. Let them sink into the floor.", None),
    ("If getting down is hard, you can lean on a chair.", None),
    ("Each time you come down to the floor and rise again, you keep a lifelong skill.", None),
    ("Deja que la respiración fluya sola.", None),
])
def test_what_counts_as_a_movement(text: str, kind: str | None) -> None:
    assert movement(text) == kind
