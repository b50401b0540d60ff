"""The engine seam's factory: which ``SpeechEngine`` a profile or a listing gets.

Owns mapping an engine name (``piper``, ``espeak``, ``fake``: see ``voices.ENGINES``) to
its class, imported only when used (pyttsx3 and onnxruntime are slow to load), and
making one supervised in a worker process (a hung call can be stopped), for speaking
and for listing its installed voices.  Nothing else names an engine class.
"""

from __future__ import annotations

from legsup_audio.speech.base import SpeechEngine, VoiceInfo
from legsup_audio.speech.voices import VoiceProfile


def engine_class(name: str) -> type[SpeechEngine]:
    """The class of the engine a profile names (``espeak`` for anything but ``fake`` and ``piper``)."""
    if name == "fake":
        from legsup_audio.speech.fake import FakeEngine

        return FakeEngine
    if name == "piper":
        from legsup_audio.speech.piper_engine import PiperEngine

        return PiperEngine
    from legsup_audio.speech.pyttsx3_engine import Pyttsx3Engine

    return Pyttsx3Engine


def make_engine(profile: VoiceProfile) -> SpeechEngine:
    """The profile's engine, run in a supervised worker process so a hung call can be stopped."""
    from legsup_audio.speech.supervised import SupervisedEngine

    return SupervisedEngine(engine_class(profile.engine))


def installed_voices(name: str = "espeak") -> list[VoiceInfo]:
    """The voices the named engine offers, asked of it in a worker (as it speaks), closed after."""
    from legsup_audio.speech.supervised import SupervisedEngine

    engine = SupervisedEngine(engine_class(name))
    try:
        return engine.voices()
    finally:
        engine.close()
