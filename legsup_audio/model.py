"""The typed cue script: what the parser produces and the compiler consumes.

Frozen dataclasses only, every node carrying the 1-based line and column it was
written at, so the compiler and the CLI can point back into the script.  All
times are integer milliseconds.  This module holds data and defaults; it does
not read YAML (``parse``) or compute times (``compile``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

#: Defaults of SPEC section 2, in ms.  Tuned here and nowhere else.
DEFAULT_GAP_MS = 1500
DEFAULT_LEAD_IN_MS = 1000
DEFAULT_TAIL_MS = 3000
DEFAULT_VOICE = "default"


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Say:
    """A spoken cue: speak ``text`` at the cursor (or at ``at``), then wait ``gap``."""

    text: str
    pos: Pos
    gap: int | None = None  # ms; None means the script's gap
    at: int | None = None  # ms from the step start
    at_pos: Pos | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """Silence: move the cursor by ``length`` ms."""

    length: int
    pos: Pos
    written: str = field(default="", compare=False)  # the duration as written (`40m`), for advice that quotes it


@dataclass(frozen=True, slots=True)
class Wait:
    """``at`` with nothing to say: move the cursor to step start + ``at``."""

    at: int
    pos: Pos


Cue = Union[Say, Pause, Wait]


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    id: str
    pos: Pos
    cues: tuple[Cue, ...] = ()
    duration: int | None = None  # ms: the step lasts at least this long
    extras: tuple[tuple[str, Any], ...] = ()  # blocks owned by later stages (breathe, background)

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extras).get(key, default)


@dataclass(frozen=True, slots=True)
class CueScript:
    """A whole, valid cue script."""

    path: Path
    id: str  # the file's stem, or the built-in's name: names the default output
    title: str
    steps: tuple[Step, ...]
    author: str | None = None
    album: str | None = None  # the album tag; None: the product name
    cover: Path | None = None  # cover art, resolved against the script's folder
    voice: str = DEFAULT_VOICE
    voice_pos: Pos | None = None
    language: str | None = None  # e.g. es; picks a voice profile when `voice` is not given
    recordings: Path | None = None  # a folder of recorded cues, resolved against the script's folder
    recordings_pos: Pos | None = None
    gap: int = DEFAULT_GAP_MS
    lead_in: int = DEFAULT_LEAD_IN_MS
    tail: int = DEFAULT_TAIL_MS
    extras: tuple[tuple[str, Any], ...] = field(default=())

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extras).get(key, default)

    def spoken_texts(self) -> list[str]:
        """Every distinct text the speech stage must synthesise, in script order.

        A step block that speaks (``breathe``'s guide words) lists its texts with its
        own ``spoken_texts()``; they follow the step's cues, as they do in time.
        """
        seen: dict[str, None] = {}
        for step in self.steps:
            for cue in step.cues:
                if isinstance(cue, Say):
                    seen.setdefault(cue.text, None)
            for _, block in step.extras:
                if callable(texts := getattr(block, "spoken_texts", None)):
                    for text in texts():
                        seen.setdefault(text, None)
        return list(seen)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One ``background:`` layer as written: its kind, its parameters (JSON-ready pairs) and its level."""

    kind: str
    params: tuple[tuple[str, Any], ...]
    level: float  # dBFS
    line: int

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.kind, **dict(self.params), "level": self.level, "line": self.line}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerSpec:
        params = tuple((k, v) for k, v in d.items() if k not in ("layer", "level", "line"))
        return cls(d["layer"], params, float(d["level"]), int(d["line"]))
