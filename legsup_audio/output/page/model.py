"""The timeline page's data: a compiled Timeline (and, for an export, what was measured) as one typed object.

Owns choosing what the page shows and putting it in a compact, stable JSON form:
the steps, every spoken cue with its text as read (no inline pause marks), the breathing phases, guide tones and
bells as marks, the background layers' planned levels over time (the step levels,
the session's fades and the dips under the voice, as ``bed.track`` applies them),
and, when there is audio, its relative address and the loudness measured from the
written file (:mod:`legsup_audio.output.page.measure`).  Times are integer milliseconds,
levels dB rounded to 0.1.  It renders nothing and writes nothing (``build`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from legsup_audio.render.bed.track import DUCK_ATTACK_MS, DUCK_HOLD_MS, DUCK_RELEASE_MS
from legsup_audio.compile.timeline import Timeline, s_to_ms

#: The loudness an export is mastered to (shown as a line on the drawing).
TARGET_LUFS = -16.0
#: The quietest level the page draws; anything below is drawn as silence.
FLOOR_DB = -70.0
#: Spacing of the sampled background levels before runs of equal values are merged.
BED_STEP_MS = 250
#: Marks drawn on the breath lane, in the timeline's own kind names.
MARK_KINDS = ("inhale", "hold", "exhale", "hold_out", "tone", "bell")


@dataclass(frozen=True, slots=True)
class PageStep:
    id: str
    title: str
    start: int  # ms
    end: int  # ms
    line: int


@dataclass(frozen=True, slots=True)
class PageCue:
    """A spoken cue: what is said, from when to when, in which step, from which script line."""

    start: int
    end: int
    step: int  # index into PageData.steps
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class PageMark:
    """A breathing phase, a guide tone or a bell."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class BedLevel:
    """One background layer's planned level over the session: (ms, dB relative to the voice) breakpoints, linear between."""

    layer: str
    label: str
    points: tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class Envelope:
    """The written file, measured: per bin its sample peak (dBFS) and momentary loudness (LUFS, 400 ms),
    and its integrated loudness, as heard (a mono file on two ears: ``heard_db`` over plain BS.1770)."""

    bin_ms: int
    peak: tuple[float, ...]
    loudness: tuple[float, ...]
    integrated: float  # LUFS of the whole file (BS.1770 gated), as heard, as the tags give it
    max_peak: float  # dBFS, the highest sample
    heard_db: float = 0.0  # added to plain BS.1770 for how it is heard (a mono file: 3.01 dB)

    def as_dict(self) -> dict[str, Any]:
        return {"bin": self.bin_ms, "peak": list(self.peak), "loudness": list(self.loudness),
                "integrated": self.integrated, "max_peak": self.max_peak, "heard": self.heard_db}


@dataclass(frozen=True, slots=True)
class PageData:
    """Everything the page shows; ``as_dict`` is the JSON the page's script reads."""

    title: str
    author: str | None
    voice: str
    duration: int  # ms
    steps: tuple[PageStep, ...]
    cues: tuple[PageCue, ...]
    marks: tuple[PageMark, ...]
    bed: tuple[BedLevel, ...]
    duck_db: float
    envelope: Envelope | None = None
    audio: str | None = None  # the track's address relative to the page (URL-quoted)
    audio_name: str | None = None  # the track's file name, as shown
    language: str | None = None  # the script's language tag: the `lang` of its words on the page

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "author": self.author,
            "voice": self.voice,
            "duration": self.duration,
            "target": TARGET_LUFS,
            "floor": FLOOR_DB,
            "steps": [[s.id, s.title, s.start, s.end, s.line] for s in self.steps],
            "cues": [[c.start, c.end, c.step, c.line, c.text] for c in self.cues],
            "marks": [[m.kind, m.start, m.end] for m in self.marks],
            "bed": [{"layer": b.layer, "label": b.label, "points": [list(p) for p in b.points]} for b in self.bed],
            "duck": self.duck_db,
            "envelope": self.envelope.as_dict() if self.envelope is not None else None,
            "audio": self.audio,
            "audio_name": self.audio_name,
            "language": self.language,
        }


def page_data(
    timeline: Timeline, envelope: Envelope | None = None, audio: str | None = None, audio_name: str | None = None
) -> PageData:
    """The page of ``timeline``; with ``envelope`` and ``audio`` for an exported track."""
    index = {s.id: i for i, s in enumerate(timeline.steps)}
    steps = tuple(PageStep(s.id, s.title, s.start, s.end, s.line) for s in timeline.steps)
    cues = tuple(PageCue(e.start, e.end, index.get(e.step, 0), e.line, e.caption)
                 for e in timeline.events if e.kind == "speech")
    marks = tuple(PageMark(e.kind, e.start, e.end) for e in timeline.events if e.kind in MARK_KINDS)
    typed = timeline.get("background")
    plan = typed.as_dict() if typed is not None else None  # its JSON form: seconds, layers as mappings
    bed = bed_levels(timeline, plan) if plan else ()
    duck = float(plan.get("duck", 0.0)) if plan else 0.0
    return PageData(timeline.title, timeline.author, timeline.voice, timeline.duration, steps, cues, marks, bed,
                    duck, envelope, audio, audio_name, timeline.language)


def layer_label(layer: dict[str, Any]) -> str:
    """A short name for a background layer: ``drone 110 Hz``, ``brown noise``, ``music rain.ogg``."""
    kind = str(layer.get("layer", "?"))
    if kind == "noise":
        return f"{layer.get('color', '')} noise".strip()
    if kind == "music":
        return f"music {str(layer.get('file', '')).replace(chr(92), '/').rsplit('/', 1)[-1]}".strip()
    if kind == "binaural":
        return f"binaural {_num(layer.get('carrier'))} Hz, {_num(layer.get('beat'))} Hz beat"
    freq = layer.get("freq")
    return f"{kind} {_num(freq)} Hz" if freq is not None else kind


def _num(value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return str(value)


def bed_levels(timeline: Timeline, plan: dict[str, Any]) -> tuple[BedLevel, ...]:
    """Each continuous layer's level over time: its level per step, faded in and out, dipped under speech.

    ``plan`` is the bed plan's JSON form (``BedPlan.as_dict``), as `legsup timeline --json` shows it.
    """
    duration = timeline.duration
    fade_in, fade_out = s_to_ms(plan.get("fade_in", 0.0)), s_to_ms(plan.get("fade_out", 0.0))
    crossfade = s_to_ms(plan.get("crossfade", 0.0))
    duck = float(plan.get("duck", 0.0))
    dips = _dips(timeline)
    found: dict[str, tuple[str, list[tuple[int, int, float]]]] = {}  # label -> (kind, [(start, end, level)])
    for segment in plan.get("segments", []):
        start, end = s_to_ms(segment["start"]), s_to_ms(segment["end"])
        for layer in segment.get("layers", []):
            label = layer_label(layer)
            found.setdefault(label, (str(layer.get("layer")), []))[1].append((start, end, float(layer["level"])))
    out = []
    for label, (kind, spans) in found.items():
        times = list(range(0, duration, BED_STEP_MS)) + [duration]
        values = [_bed_db(t, spans, duration, fade_in, fade_out, crossfade, duck, dips) for t in times]
        out.append(BedLevel(kind, label, _breakpoints(times, values)))
    return tuple(out)


def _dips(timeline: Timeline) -> list[tuple[int, int]]:
    """Speech spans merged as the bed merges them (closer than DUCK_HOLD_MS: one dip)."""
    merged: list[list[int]] = []
    for e in timeline.speech():
        if merged and e.start - merged[-1][1] < DUCK_HOLD_MS:
            merged[-1][1] = max(merged[-1][1], e.end)
        else:
            merged.append([e.start, e.end])
    return [(s, e) for s, e in merged]


def _bed_db(t: int, spans: list[tuple[int, int, float]], duration: int, fade_in: int, fade_out: int,
            crossfade: int, duck: float, dips: list[tuple[int, int]]) -> float:
    level = _span_level(t, spans, crossfade)
    if level is None:
        return FLOOR_DB
    gain = 1.0
    if fade_in and t < fade_in:
        gain = min(gain, t / fade_in)
    if fade_out and t > duration - fade_out:
        gain = min(gain, (duration - t) / fade_out)
    if gain <= 0:
        return FLOOR_DB
    level += 20 * math.log10(gain)
    if duck:
        level -= duck * _dip_depth(t, dips)
    return max(FLOOR_DB, round(level, 1))


def _span_level(t: int, spans: list[tuple[int, int, float]], crossfade: int) -> float | None:
    """The layer's step level at ``t``, moving linearly in dB across ``crossfade`` centred on a boundary."""
    half = crossfade // 2
    here = next((s for s in spans if s[0] <= t < s[1]), spans[-1] if spans and t >= spans[-1][1] else None)
    if here is None:
        return None
    for prev, nxt in zip(spans, spans[1:]):
        if prev[1] == nxt[0] and half and abs(t - nxt[0]) < half and prev[2] != nxt[2]:
            w = (t - (nxt[0] - half)) / (2 * half)
            return prev[2] + (nxt[2] - prev[2]) * w
    return here[2]


def _dip_depth(t: int, dips: list[tuple[int, int]]) -> float:
    """0 away from speech, 1 under it, ramping over the attack before and the release after."""
    depth = 0.0
    for start, end in dips:
        if start - DUCK_ATTACK_MS <= t <= end + DUCK_RELEASE_MS:
            if t < start:
                depth = max(depth, (t - (start - DUCK_ATTACK_MS)) / DUCK_ATTACK_MS)
            elif t <= end:
                return 1.0
            else:
                depth = max(depth, 1 - (t - end) / DUCK_RELEASE_MS)
    return depth


def _breakpoints(times: list[int], values: list[float]) -> tuple[tuple[int, float], ...]:
    """Drop points in the middle of runs of equal values (the drawing joins points with lines)."""
    kept: list[tuple[int, float]] = []
    for i, (t, v) in enumerate(zip(times, values)):
        if 0 < i < len(values) - 1 and values[i - 1] == v == values[i + 1]:
            continue
        kept.append((t, v))
    return tuple(kept)
