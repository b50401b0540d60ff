"""Audacity label tracks of a timeline: one tab-separated ``start<TAB>end<TAB>label`` line per step and cue.

Owns the text of the label file that Audacity's File > Import > Labels reads (times
in seconds with six decimals, the format Audacity itself exports): each step as a
region labelled ``N. Title``, each spoken cue as a region labelled with its text as
read (``Event.caption``: no inline pause marks),
sorted by start (a step before the cues inside it).  Tabs and line breaks in a text
become spaces, so every label stays one line.  It does not write files (``build``).
"""

from __future__ import annotations

from legsup_audio.compile.timeline import Timeline


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.6f}"


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def labels_text(timeline: Timeline) -> str:
    """The label track of ``timeline``'s steps and spoken cues."""
    rows: list[tuple[int, int, int, str]] = []  # start, 0 for a step / 1 for a cue, end, label
    for number, step in enumerate(timeline.steps, start=1):
        rows.append((step.start, 0, step.end, f"{number}. {_clean(step.title)}"))
    for event in timeline.speech():
        rows.append((event.start, 1, event.end, _clean(event.caption)))
    rows.sort(key=lambda row: (row[0], row[1]))
    return "".join(f"{_seconds(start)}\t{_seconds(end)}\t{label}\n" for start, _, end, label in rows)
