"""The Timeline: what the compiler produces and every later stage consumes.

Pure data, no audio: the steps of a session and its exactly timed events, in
integer milliseconds.  Each event remembers the script line it came from so that
errors, previews and captions can point back into the script.  ``as_dict`` gives
the stable JSON form of SPEC section 5 (seconds, rounded to the millisecond) and
``from_dict`` reads it back.  A spoken event keeps its text exactly as written (the
speech stage's key); ``Event.caption`` is that text as a person reads it, without the
inline pause marks (``[2s]``) that only steer the voice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from legsup_audio.model import LayerSpec
from legsup_audio.speech.pacing import display
from legsup_audio.units import ms_to_s

#: How long a text takes to say, in ms: what the compiler is given by the speech stage.
SpokenLength = Callable[[str], int]

#: Event kinds, in the order used to break ties between events that start together.
EVENT_KINDS = ("bell", "inhale", "hold", "exhale", "hold_out", "tone", "speech")


def s_to_ms(s: float) -> int:
    return int(round(s * 1000))


@dataclass(frozen=True, slots=True)
class Event:
    """One timed thing in the session: a spoken cue, a breathing phase, a tone, a bell."""

    kind: str
    start: int  # ms from the session start
    end: int  # ms, >= start
    step: str  # the id of the step it belongs to
    line: int  # the script line it came from
    text: str | None = None  # what is spoken (speech events)
    data: tuple[tuple[str, Any], ...] = ()  # kind-specific extras (tone pitch, bell level, ...)

    @property
    def duration(self) -> int:
        return self.end - self.start

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.data).get(key, default)

    @property
    def caption(self) -> str:
        """What a person reads for this event: its text without inline pause marks, on one line."""
        return display(self.text or "")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "start": ms_to_s(self.start),
            "end": ms_to_s(self.end),
            "step": self.step,
        }
        if self.text is not None:
            out["text"] = self.text
            if (caption := self.caption) != " ".join(self.text.split()):
                out["caption"] = caption  # only where pause marks make the two differ
        out["line"] = self.line
        for key, value in self.data:
            out[key] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        known = {"kind", "start", "end", "step", "text", "caption", "line"}
        return cls(
            kind=d["kind"],
            start=s_to_ms(d["start"]),
            end=s_to_ms(d["end"]),
            step=d["step"],
            line=d["line"],
            text=d.get("text"),
            data=tuple((k, v) for k, v in d.items() if k not in known),
        )


@dataclass(frozen=True, slots=True)
class StepSpan:
    """Where a step sits in the session; becomes a chapter on export."""

    id: str
    title: str
    start: int  # ms
    end: int  # ms
    line: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "start": ms_to_s(self.start),
            "end": ms_to_s(self.end),
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepSpan:
        return cls(d["id"], d["title"], s_to_ms(d["start"]), s_to_ms(d["end"]), d.get("line", 0))


def event_sort_key(e: Event) -> tuple[int, int, int]:
    return (e.start, EVENT_KINDS.index(e.kind) if e.kind in EVENT_KINDS else 99, e.line)


@dataclass(frozen=True, slots=True)
class BedSegment:
    """The bed during one step: the layers sounding from ``start`` to ``end`` (ms). The first
    segment starts at 0 and the last ends at the session's end (bells are events, not layers)."""

    step: str
    start: int
    end: int
    layers: tuple[LayerSpec, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "start": ms_to_s(self.start), "end": ms_to_s(self.end),
                "layers": [spec.as_dict() for spec in self.layers]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BedSegment:
        return cls(d["step"], s_to_ms(d["start"]), s_to_ms(d["end"]),
                   tuple(LayerSpec.from_dict(spec) for spec in d["layers"]))


@dataclass(frozen=True, slots=True)
class BedPlan:
    """The background bed the renderer follows (``Timeline.get("background")``), in integer ms;
    written by ``compile.background``, read by ``render.bed.track``; seconds in the JSON form."""

    fade_in: int
    fade_out: int
    duck: float  # dB the bed dips by while the voice speaks
    crossfade: int  # an equal-power crossfade centred on each step boundary
    segments: tuple[BedSegment, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"fade_in": ms_to_s(self.fade_in), "fade_out": ms_to_s(self.fade_out), "duck": self.duck,
                "crossfade": ms_to_s(self.crossfade), "segments": [seg.as_dict() for seg in self.segments]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BedPlan:
        return cls(s_to_ms(d["fade_in"]), s_to_ms(d["fade_out"]), float(d["duck"]), s_to_ms(d["crossfade"]),
                   tuple(BedSegment.from_dict(seg) for seg in d["segments"]))


#: The typed extras a timeline may carry, by key: written with ``as_dict``, read with ``from_dict``.
EXTRAS: dict[str, type[BedPlan]] = {"background": BedPlan}


@dataclass(frozen=True, slots=True)
class Timeline:
    """A compiled session: title, voice, total duration, steps and sorted events."""

    title: str
    duration: int  # ms
    steps: tuple[StepSpan, ...]
    events: tuple[Event, ...]
    voice: str = "default"
    author: str | None = None
    extras: tuple[tuple[str, Any], ...] = field(default=())  # stage-specific data (background, ...)
    language: str | None = None  # the text's language tag (es, en-GB): the script's, else its voice's

    def speech(self) -> list[Event]:
        return [e for e in self.events if e.kind == "speech"]

    def step(self, step_id: str) -> StepSpan:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extras).get(key, default)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title}
        if self.author is not None:
            out["author"] = self.author
        out["voice"] = self.voice
        if self.language is not None:
            out["language"] = self.language
        out["duration"] = ms_to_s(self.duration)
        out["steps"] = [s.as_dict() for s in self.steps]
        out["events"] = [e.as_dict() for e in self.events]
        for key, value in self.extras:
            out[key] = value.as_dict() if key in EXTRAS else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timeline:
        known = {"title", "author", "voice", "language", "duration", "steps", "events"}
        return cls(
            title=d["title"],
            duration=s_to_ms(d["duration"]),
            steps=tuple(StepSpan.from_dict(s) for s in d["steps"]),
            events=tuple(Event.from_dict(e) for e in d["events"]),
            voice=d.get("voice", "default"),
            author=d.get("author"),
            language=d.get("language"),
            extras=tuple((k, EXTRAS[k].from_dict(v) if k in EXTRAS else v) for k, v in d.items() if k not in known),
        )
