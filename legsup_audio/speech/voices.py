"""Voice profiles: named sets of speech options kept in ``voices/*.yaml``.

Owns reading and checking profile files and turning a profile into
``SpeechOptions``; ``engines`` turns it into an engine.  A profile names its engine (``espeak`` for pyttsx3 on
espeak-ng, ``fake`` for tests), the engine's voice id, rate (words per minute),
volume (0-1) and optionally pitch.  Whether the voice id is installed is checked
by the engine when it first speaks, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from legsup_audio.errors import LegsupError, ScriptError
from legsup_audio.script.reading import Ctx, check_keys, load_yaml, read_mapping, read_source, read_text
from legsup_audio.script.resources import available
from legsup_audio.speech.base import SpeechOptions

ENGINES = ("espeak", "fake")
PROFILE_KEYS = ("description", "engine", "voice", "rate", "volume", "pitch", "language")


@dataclass(frozen=True, slots=True)
class VoiceProfile:
    name: str
    engine: str
    voice: str
    rate: int
    volume: float
    pitch: int | None = None
    language: str | None = None
    description: str = ""
    path: Path | None = None

    @property
    def options(self) -> SpeechOptions:
        return SpeechOptions(self.voice, self.rate, self.volume, self.pitch)


def load_profile(path: Path, name: str | None = None) -> VoiceProfile:
    ctx = Ctx(str(path))
    root = load_yaml(read_source(path, str(path)), ctx)
    entries = read_mapping(root, ctx, "a voice profile") if root is not None else None
    if entries is None:
        if not ctx.problems:
            ctx.error(None, "the voice profile is empty")
        raise ScriptError(ctx.problems)
    check_keys(entries, PROFILE_KEYS, ctx, "a voice profile")
    values: dict[str, object] = {}
    for key in ("description", "engine", "voice", "language"):
        if key in entries:
            values[key] = read_text(entries[key][1], ctx, key)
    for key in ("engine", "voice", "rate", "volume"):
        if key not in entries:
            ctx.error(root, f"the voice profile has no '{key}'")
    if "engine" in entries and values.get("engine") not in (None, *ENGINES):
        ctx.error(entries["engine"][1], f"unknown engine '{values['engine']}'; use one of: {', '.join(ENGINES)}")
    for key, kind, low, high in (("rate", int, 60, 400), ("volume", float, 0.0, 1.0), ("pitch", int, 0, 99)):
        if key not in entries:
            continue
        node = entries[key][1]
        try:
            number = kind(node.value)
        except (TypeError, ValueError):
            ctx.error(node, f"{key} must be a number from {low} to {high}")
            continue
        if not low <= number <= high:
            ctx.error(node, f"{key} must be from {low} to {high}, not {number}")
            continue
        values[key] = number
    if ctx.problems:
        raise ScriptError(ctx.problems)
    return VoiceProfile(
        name=name or path.stem,
        engine=str(values["engine"]),
        voice=str(values["voice"]),
        rate=int(values["rate"]),  # type: ignore[call-overload]
        volume=float(values["volume"]),  # type: ignore[arg-type]
        pitch=values.get("pitch"),  # type: ignore[arg-type]
        language=values.get("language"),  # type: ignore[arg-type]
        description=str(values.get("description") or ""),
        path=path,
    )


def profile_names() -> list[str]:
    return [f.name for f in available("voices")]


def profile_languages() -> dict[str, str | None]:
    """Every profile's name and language (None when unknown or the profile is broken)."""
    languages: dict[str, str | None] = {}
    for found in available("voices"):
        try:
            languages[found.name] = load_profile(found.path, found.name).language
        except LegsupError:  # a broken profile is reported when it is used, not here
            languages[found.name] = None
    return languages


def get_profile(name: str) -> VoiceProfile:
    for found in available("voices"):
        if found.name == name:
            return load_profile(found.path, name)
    from legsup_audio.script.suggest import suggest

    names = profile_names()
    raise LegsupError(f"no voice profile named '{name}'{suggest(name, names)}; known: {', '.join(names)}")

