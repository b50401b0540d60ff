"""The stages in order: script -> parse -> speak -> compile -> render -> master.

Owns wiring the stages together for the commands (export, timeline, play) so
each command calls one function.  ``build`` stops at a compiled ``Session``
(script, voice, clips, timeline), which needs speech because clip lengths set
the timing; ``mix`` turns a session into the mastered PCM source.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from legsup_audio.checkpoint import during, signals_held
from legsup_audio.compile.compiler import check_length, compile_script
from legsup_audio.errors import OutputError, UsageError
from legsup_audio.script.limits import DEFAULT_MAX_LENGTH_MS, MAX_FILE_BYTES
from legsup_audio.render.master import TARGET_LUFS, Loudness, Mastered, master
from legsup_audio.model import CueScript
from legsup_audio.output.files import explain
from legsup_audio.script.parse import parse_script
from legsup_audio.compile.background import without_background as strip_background
from legsup_audio.render.mix import Layer, Mix, VoiceTrack
from legsup_audio.script.resources import Found, resolve_script
from legsup_audio.speech.base import SpeechEngine
from legsup_audio.units import SAMPLE_RATE
from legsup_audio.speech.cache import ClipCache, ClipRef, default_cache_dir
from legsup_audio.speech.recordings import takes_for
from legsup_audio.speech.speaker import Speaker, text_locations
from legsup_audio.compile.timeline import Timeline
from legsup_audio.render.tones import ToneTrack
from legsup_audio.speech.engines import make_engine
from legsup_audio.speech.voices import VoiceProfile, get_profile, profile_languages


@dataclass(frozen=True)
class Session:
    """A compiled session, ready to render."""

    script: CueScript
    profile: VoiceProfile
    clips: dict[str, ClipRef]
    timeline: Timeline


def load(found: Found | str | Path | None) -> CueScript:
    """Parse and check a script given as a path, a name, or None for the default.

    Inside :func:`parsing_once` (one export reads each script three times: the album,
    the target checks, the build) a script whose content is unchanged is not parsed
    again.  Outside it every call parses: a parse also checks what the script points
    at (its recordings folder, its media), which may change between two commands of
    one process.
    """
    if not isinstance(found, Found):
        found = resolve_script(None if found is None else str(found))
    voices = profile_languages()
    kept = _parsed[-1] if _parsed else None
    key = None  # not kept: parse_script reads it and says what is wrong with it
    if kept is not None:
        try:
            if stat.S_ISREG(os.stat(found.path).st_mode):  # never open a FIFO or a device here
                # By content, not by modification time: a file rewritten within one clock tick keeps its mtime.
                with open(found.path, "rb") as f:
                    digest = hashlib.sha256(f.read(MAX_FILE_BYTES + 1)).hexdigest()
                key = (str(found.path), found.name, digest, tuple(sorted(voices.items())))
        except (OSError, ValueError):
            pass
    if kept is not None and key is not None and key in kept:
        return kept[key]
    script = parse_script(found.path, known_voices=voices, script_id=found.name)
    if kept is not None and key is not None:
        kept[key] = script
    return script


@contextmanager
def parsing_once() -> Iterator[None]:
    """Within this block (one command), :func:`load` parses each unchanged script once."""
    _parsed.append({})
    try:
        yield
    finally:
        _parsed.pop()


#: The scripts parsed by the commands running :func:`parsing_once`, innermost last
#: (a ``CueScript`` is immutable, so one can be handed out twice).
_parsed: list[dict[tuple[object, ...], CueScript]] = []


def build(
    found: Found | str | Path | None,
    *,
    cache: ClipCache | None = None,
    engine: SpeechEngine | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_length_ms: int = DEFAULT_MAX_LENGTH_MS,
    voice: str | None = None,
) -> Session:
    """Parse, speak and compile one script; a session over ``max_length_ms`` is a ``ScriptError``.

    ``voice`` names a profile that replaces the script's ``voice:`` (``--voice``).
    """
    script = load(found)
    check_length(script, max_length_ms)  # before speaking: its silences alone may be too long
    profile = get_profile(voice_choice(voice) if voice is not None else script.voice)
    takes = takes_for(script)  # recorded cues (the script's `recordings:`), before any engine starts
    own_engine = engine is None
    try:
        with signals_held():  # a stop signal cannot fall between making the engine (its temp folder) and the try
            engine = engine or make_engine(profile)
        spare = (lambda: make_engine(profile)) if own_engine else None  # a second worker: both cores speak
        speaker = Speaker(engine, profile.options, cache or ClipCache(), spare, takes)
        clips = speaker.speak(script.spoken_texts(), during("synthesis", progress), where=text_locations(script))
    except OSError as exc:  # a full or read-only disk under the clip cache, most often: one line, for every command
        raise OutputError(speech_failure(exc)) from None
    finally:
        if own_engine and engine is not None:
            engine.close()
    timeline = compile_script(script, lambda text: clips[text].duration_ms, max_length_ms)
    timeline = replace(timeline, language=text_language(script, profile, voice))
    return Session(script, profile, clips, timeline)


def text_language(script: CueScript, profile: VoiceProfile, voice: str | None = None) -> str | None:
    """The language the script is written in: its ``language:``, else its own voice profile's.

    ``--voice`` changes who speaks, not what the words are, so with ``voice`` given the script's
    own profile is asked; tags, captions and the page carry the answer.
    """
    if script.language:
        return script.language
    if voice is None:
        return profile.language
    return profile_languages().get(script.voice) or profile.language


def voice_choice(name: str) -> str:
    """``--voice NAME`` checked: a known profile, or a usage error with the known ones."""
    from legsup_audio.script.suggest import suggest
    from legsup_audio.speech.voices import profile_names

    names = profile_names()
    if name not in names:
        raise UsageError(f"--voice: no voice profile named '{name}'{suggest(name, names)}; known: {', '.join(names)}")
    return name


def speech_failure(exc: OSError) -> str:
    """One line for an ``OSError`` met while speaking, naming the setting that moves the folder."""
    # Speaking writes into the clip cache, and the speech worker's scratch folder under TMPDIR.
    path = Path(os.path.abspath(exc.filename)) if isinstance(exc.filename, str) else None
    cache, scratch = Path(os.path.abspath(default_cache_dir())), Path(os.path.abspath(tempfile.gettempdir()))
    if path is not None and not path.is_relative_to(cache) and path.is_relative_to(scratch):
        return f"cannot make the spoken clips: {explain(exc, scratch, 'TMPDIR')}"
    return f"cannot store the spoken clips: {explain(exc, path.parent if path else cache, 'LEGSUP_CACHE_DIR')}"


def mix(session: Session, background: bool = True) -> Mix:
    layers: list[Layer] = [VoiceTrack(session.timeline, session.clips)]
    if tones := ToneTrack(session.timeline):  # breathing-guide tones; a voice-only session has none
        layers.append(tones)
    if background and session.timeline.get("background") is not None:  # a script without `background:` has no bed
        from legsup_audio.render.bed.track import bed_track  # lazily: a voice-only session never loads the bed

        if (bed := bed_track(session.timeline, SAMPLE_RATE, str(session.script.path))) is not None:
            layers.append(bed)
    return Mix(session.timeline, layers)


def without_background(session: Session) -> Session:
    """The session with no bed (``--no-background``): no bell events, no plan, no bed layer."""
    return replace(session, timeline=strip_background(session.timeline))


def mastered(session: Session, target_lufs: float = TARGET_LUFS, background: bool = True) -> tuple[Mastered, Loudness]:
    """The session's mix, mastered: the voice at ``target_lufs`` while it speaks (one known gain)."""
    return master(mix(session, background), target_lufs)
