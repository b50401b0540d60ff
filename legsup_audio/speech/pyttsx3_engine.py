"""The espeak-ng speech engine: its voices listed through pyttsx3, its clips spoken fresh.

Owns every quirk of pyttsx3 2.99 on espeak-ng (see shared/notes/STACK.md) so the
rest of the program never sees them.  pyttsx3 lists the installed voices (and
unknown voice ids are rejected instead of being silently ignored).  Clips are
not spoken through pyttsx3: its driver runs espeak-ng asynchronously, and
espeak-ng carries state from one utterance to the next, so the same text came
out differently depending on what the process had said.  Each clip is spoken
by a fresh ``espeak-ng`` process (same library, same voices) into a fresh
path, checked (header, frame count, file size) and retried; the "Audio saved
to" lines pyttsx3 prints are swallowed.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tempfile
import uuid
import wave
from importlib import metadata
from pathlib import Path

import numpy as np

from legsup_audio.errors import SetupError, SpeechError
from legsup_audio.speech.base import Clip, ClipFailed, SpeechEngine, SpeechOptions, VoiceInfo

#: How often one text is tried before giving up, and (times ten) how long one try may take.
ATTEMPTS = 5
FILE_WAIT_S = 3.0

MISSING_LIBRARY = (
    "the espeak-ng speech library is not installed; run `tools/setup.sh` "
    "(or `sudo apt-get install espeak-ng`)"
)


class Pyttsx3Engine(SpeechEngine):
    id = "pyttsx3-espeak"

    def __init__(self) -> None:
        self._engine = None
        self._voices: list[VoiceInfo] | None = None
        self._tmp_dir: Path | None = None  # made on the first clip: an engine asked only its version writes nothing

    # -- lifecycle -----------------------------------------------------------------
    def _get(self):  # noqa: ANN202 - pyttsx3 has no types
        if self._engine is None:
            try:
                import pyttsx3
            except ImportError as exc:  # pragma: no cover - a broken install
                raise SetupError(f"pyttsx3 is not installed ({exc}); run `tools/setup.sh`") from None
            try:
                with _quiet():
                    self._engine = pyttsx3.init("espeak")
                _silence_driver()
            except (OSError, RuntimeError, ImportError, AttributeError) as exc:
                if "espeak" in str(exc).lower() or isinstance(exc, OSError):
                    raise SetupError(MISSING_LIBRARY) from None
                raise SetupError(f"the speech engine could not start: {exc}") from None
        return self._engine

    def _restart(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(Exception):
                engine.stop()

    def close(self) -> None:
        self._restart()
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    @property
    def _tmp(self) -> Path:
        if self._tmp_dir is None:
            self._tmp_dir = Path(tempfile.mkdtemp(prefix="legsup-tts-"))
        return self._tmp_dir

    # -- seam --------------------------------------------------------------------------
    def version(self) -> str:
        try:
            lib = metadata.version("pyttsx3")
        except metadata.PackageNotFoundError:  # pragma: no cover
            lib = "unknown"
        return f"pyttsx3-{lib}/espeak-ng-{_espeak_version()}/fresh-process"

    def voices(self) -> list[VoiceInfo]:
        if self._voices is None:
            engine = self._get()
            self._voices = [
                VoiceInfo(v.id, v.name, tuple(str(lang) for lang in (v.languages or ())))
                for v in engine.getProperty("voices")
            ]
        return self._voices

    def synthesize(self, text: str, options: SpeechOptions) -> Clip:
        if not self.has_voice(options.voice):
            from legsup_audio.script.suggest import suggest

            near = suggest(options.voice, [v.id for v in self.voices()])
            raise SpeechError(f"espeak-ng has no voice '{options.voice}'{near}; `legsup voices` lists the installed ones")
        return self._speak_fresh(text, options)

    def _speak_fresh(self, text: str, options: SpeechOptions) -> Clip:
        """One clip from a fresh espeak-ng process, so that it depends on nothing spoken before.

        espeak-ng's wave generator keeps state across utterances (its flutter and
        pitch carry on from the last one), and pyttsx3 runs it asynchronously: in
        one process the same text gave different samples depending on what came
        before, and once in ~45 cold runs a first clip came out at pyttsx3's default
        rate.  espeak-ng's own program starts from rest every time (the same
        library and voices), costs ~30 ms a clip, and writes a complete WAV.
        """
        program = shutil.which("espeak-ng")
        if program is None:
            raise SetupError(MISSING_LIBRARY)
        last_problem = "no audio"
        for _ in range(ATTEMPTS):
            path = self._tmp / f"{uuid.uuid4().hex}.wav"  # fresh path: never a stale clip
            command = [program, "-b", "1", "-v", options.voice, "-s", str(options.rate),
                       "-a", str(round(options.volume * 100)), "-w", str(path)]
            if options.pitch is not None:
                command += ["-p", str(options.pitch)]
            try:
                done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, timeout=FILE_WAIT_S * 10,
                                      check=False)
                clip = _read_complete_wav(path) if done.returncode == 0 else None
                if clip is None:
                    last_problem = done.stderr.decode(errors="replace").strip()[:200] or f"status {done.returncode}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                last_problem = str(exc) or type(exc).__name__
                clip = None
            finally:
                with contextlib.suppress(OSError):
                    path.unlink()
            if clip is not None:
                return clip
        raise ClipFailed(f"espeak-ng gave no usable audio for {text[:60]!r} after {ATTEMPTS} tries ({last_problem})")


def _read_complete_wav(path: Path) -> Clip | None:
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as w:
            frames, width, channels, rate = w.getnframes(), w.getsampwidth(), w.getnchannels(), w.getframerate()
            if frames == 0 or width != 2 or channels != 1 or size < 44 + frames * 2:
                return None
            data = w.readframes(frames)
    except (FileNotFoundError, EOFError, wave.Error):
        return None
    if len(data) != frames * 2:
        return None
    return Clip(np.frombuffer(data, dtype="<i2").copy(), rate)


def _silence_driver() -> None:
    """Stop the espeak driver printing "Audio saved to ..." for every clip.

    The driver prints from espeak's callback, which can fire after
    ``runAndWait`` has returned (the race above), so redirecting stdout around
    the call is not enough: the module's own ``print`` is shadowed instead.
    """
    import pyttsx3.drivers.espeak as driver

    driver.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


@contextlib.contextmanager
def _quiet():
    """Swallow what pyttsx3 prints to stdout ("Audio saved to ...")."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _espeak_version() -> str:
    """The espeak-ng library version, read without starting an engine."""
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        lib = ctypes.CDLL(name)
        lib.espeak_Info.restype = ctypes.c_char_p
        info = lib.espeak_Info(None)
        return info.decode() if info else "unknown"
    except (OSError, AttributeError):
        return "missing"

