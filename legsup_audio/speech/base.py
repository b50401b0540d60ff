"""The speech-engine seam: what every engine must provide, and the clip type.

An engine turns one text plus ``SpeechOptions`` into a raw ``Clip`` (mono int16).
It does not cache, trim or retry on behalf of its callers beyond its own quirks:
caching and trimming happen once, in ``speaker``, for every engine alike (through
``run``, so that work happens wherever the engine runs).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from legsup_audio.errors import SpeechError


@dataclass(frozen=True, slots=True)
class SpeechOptions:
    """Everything that changes how a text sounds; all of it goes into the cache key."""

    voice: str  # the engine's voice id (Piper: ``joe`` or a model path)
    rate: int  # words per minute (espeak-ng; Piper's pace is ``length_scale``)
    volume: float  # 0.0 to 1.0
    pitch: int | None = None  # engine units (espeak: 0-99, 50 normal)
    length_scale: float | None = None  # Piper: > 1 speaks slower; None: the voice's own
    noise_scale: float | None = None  # Piper: variation in the sound of each phoneme
    noise_w: float | None = None  # Piper: variation in phoneme lengths
    sentence_pause_ms: int = 0  # silence put between sentences (Piper leaves none)
    ellipsis_pause_ms: int = 0  # silence for "..." in a cue (0: the text is left to the engine)
    model_digest: str = ""  # checksum of the voice's model files, so a changed model is never mixed up


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """One voice an engine has installed."""

    id: str
    name: str
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Clip:
    """Mono 16-bit speech at ``rate`` Hz."""

    samples: np.ndarray  # int16, shape (frames,)
    rate: int

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_ms(self) -> int:
        return clip_ms(self.frames, self.rate)


class ClipFailed(SpeechError):
    """The engine could not speak one particular text; the speak stage adds where the script uses it."""


def clip_ms(frames: int, rate: int) -> int:
    """A clip's length in whole ms, rounded up so its event covers every sample."""
    return math.ceil(frames * 1000 / rate)


#: What ``SpeechEngine.run`` runs: a module-level function of an engine, a text and options.
Task = Callable[["SpeechEngine", str, SpeechOptions], Clip]


class SpeechEngine(ABC):
    """Base of every speech engine."""

    #: Stable identifier; part of every cache key.
    id: str = "engine"

    @abstractmethod
    def version(self) -> str:
        """Engine (and library) version; part of every cache key."""

    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """The voices installed for this engine."""

    @abstractmethod
    def synthesize(self, text: str, options: SpeechOptions) -> Clip:
        """Speak ``text`` into a raw clip, or raise ``SpeechError``/``SetupError``."""

    def run(self, task: Task, text: str, options: SpeechOptions) -> Clip:
        """``task(self, text, options)``: speaking ``text`` and what the caller does with the clip.

        Runs where the engine runs: a supervised engine runs it in its worker
        process, so the work after speaking is shared by the workers' cores, next
        to the speaking.  ``task`` must be a module-level function (it travels by name).
        """
        return task(self, text, options)

    def has_voice(self, voice_id: str) -> bool:
        return voice_id.lower() in {v.id.lower() for v in self.voices()}

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release the engine's resources."""
