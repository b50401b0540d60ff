"""Voice profiles: named sets of speech options kept in ``voices/*.yaml``.

Owns reading and checking profile files and turning a profile into
``SpeechOptions``; ``engines`` turns it into an engine.  A profile names its engine (``piper`` for a neural
Piper voice, ``espeak`` for pyttsx3 on espeak-ng, ``fake`` for tests), the
engine's voice (for Piper the bundled ``joe`` or a downloaded ``.onnx`` file),
volume (0-1), and its pacing: espeak-ng's rate (words per minute) and pitch,
Piper's pace (``length_scale``), noise, and the pauses put between sentences
and for "...".  Whether the voice id is installed is checked
by the engine when it first speaks, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from legsup_audio.errors import LegsupError, ScriptError
from legsup_audio.script.reading import Ctx, check_keys, load_yaml, read_duration, read_mapping, read_source, read_text
from legsup_audio.script.resources import available
from legsup_audio.speech.base import SpeechOptions

ENGINES = ("piper", "espeak", "fake")
PROFILE_KEYS = ("description", "engine", "voice", "rate", "volume", "pitch", "language",
                "pace", "noise", "noise_w", "sentence_pause", "ellipsis_pause")
#: Keys that only one kind of engine reads.
PIPER_ONLY = ("pace", "noise", "noise_w")
ESPEAK_ONLY = ("rate", "pitch")
#: (key, type, lowest, highest) of every numeric key.
NUMBERS = (("rate", int, 60, 400), ("volume", float, 0.0, 1.0), ("pitch", int, 0, 99),
           ("pace", float, 0.5, 2.0), ("noise", float, 0.0, 1.5), ("noise_w", float, 0.0, 1.5))
#: The longest pause a profile may put between sentences or for "...".
MAX_PROFILE_PAUSE_MS = 5000


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
    pace: float | None = None  # Piper's length_scale: above 1 is slower
    noise: float | None = None
    noise_w: float | None = None
    sentence_pause_ms: int = 0
    ellipsis_pause_ms: int = 0

    @property
    def options(self) -> SpeechOptions:
        digest = ""
        if self.engine == "piper":
            from legsup_audio.speech.piper_engine import model_digest

            digest = model_digest(self.voice)
        return SpeechOptions(self.voice, self.rate, self.volume, self.pitch, self.pace, self.noise, self.noise_w,
                             self.sentence_pause_ms, self.ellipsis_pause_ms, digest)

    def summary(self) -> dict[str, object]:
        """The profile as plain data, for ``legsup voices --json``."""
        return {"name": self.name, "engine": self.engine, "language": self.language, "description": self.description,
                "voice": self.voice, "rate": self.rate if self.engine != "piper" else None, "volume": self.volume,
                "pitch": self.pitch, "pace": self.pace, "sentence_pause_ms": self.sentence_pause_ms,
                "ellipsis_pause_ms": self.ellipsis_pause_ms, "path": str(self.path) if self.path else None}


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
    engine = values.get("engine")
    if "engine" in entries and engine not in (None, *ENGINES):
        ctx.error(entries["engine"][1], f"unknown engine '{engine}'; use one of: {', '.join(ENGINES)}")
    needed = ("engine", "voice", "rate", "volume") if engine == "espeak" else ("engine", "voice", "volume")
    for key in needed:
        if key not in entries:
            ctx.error(root, f"the voice profile has no '{key}'")
    # The fake engine (for tests) reads every key, so any profile can be switched to it.
    others = {"piper": ESPEAK_ONLY, "espeak": PIPER_ONLY}.get(str(engine), ())
    for key in others:
        if key in entries:
            ctx.error(entries[key][0], f"'{key}' is not read by the {engine} engine; remove it")
    for key, kind, low, high in NUMBERS:
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
    for key in ("sentence_pause", "ellipsis_pause"):
        if key in entries and (ms := read_duration(entries[key][1], ctx, key)) is not None:
            if ms > MAX_PROFILE_PAUSE_MS:
                ctx.error(entries[key][1], f"{key} must be at most {MAX_PROFILE_PAUSE_MS // 1000}s, not {ms / 1000:g}s")
            values[key] = ms
    if engine == "piper" and isinstance(values.get("voice"), str):
        values["voice"] = _piper_voice(str(values["voice"]), path, entries["voice"][1], ctx)
    if ctx.problems:
        raise ScriptError(ctx.problems)
    return VoiceProfile(
        name=name or path.stem,
        engine=str(values["engine"]),
        voice=str(values["voice"]),
        rate=int(values.get("rate", 150)),  # type: ignore[call-overload]
        volume=float(values["volume"]),  # type: ignore[arg-type]
        pitch=values.get("pitch"),  # type: ignore[arg-type]
        language=values.get("language"),  # type: ignore[arg-type]
        description=str(values.get("description") or ""),
        path=path,
        pace=values.get("pace"),  # type: ignore[arg-type]
        noise=values.get("noise"),  # type: ignore[arg-type]
        noise_w=values.get("noise_w"),  # type: ignore[arg-type]
        sentence_pause_ms=int(values.get("sentence_pause", 0)),  # type: ignore[call-overload]
        ellipsis_pause_ms=int(values.get("ellipsis_pause", 0)),  # type: ignore[call-overload]
    )


def _piper_voice(voice: str, profile: Path, node: object, ctx: Ctx) -> str:
    """``joe`` (the bundled voice) or the absolute path of a downloaded ``.onnx`` model.

    A relative path is taken from the profile's folder; the model and its
    ``.onnx.json`` config must both be there and fit.
    """
    from legsup_audio.errors import SpeechError
    from legsup_audio.speech.piper_engine import BUNDLED, model_files

    if voice == BUNDLED:
        return voice
    model = Path(voice).expanduser()
    if not model.is_absolute():
        model = profile.parent / model
    try:
        model_files(str(model))
    except SpeechError as exc:
        ctx.error(node, f"{exc}; download a Piper voice's .onnx and .onnx.json into one folder, "
                        f"or use the bundled voice '{BUNDLED}'")
    return str(model)


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

