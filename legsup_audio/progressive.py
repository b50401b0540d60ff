"""Playing a session while it is still being spoken: how far its audio is already final.

Owns ``legsup play`` on a script whose clips are not all cached.  The texts are spoken
in the order they are first heard (both workers), and every clip that arrives moves a
horizon: the timeline is compiled with each clip still unspoken counted as 1 ms long,
and everything before the first cue still unspoken is then exactly as it will be,
because a clip's length only moves what comes after its own start (cursors only grow;
``at``, ``duration`` and the bed's ring-out only hold them back).  Before that point the
renderer reaches back a little for what a moved cue or a moved end changes (the bed's
crossfades, ducking, fade-out: ``render.bed.track.lookback_ms``) and the master's
limiter looks around each frame (``render.master.look_around``); both come off.

``LiveSource`` is the ``PcmSource`` over it: ``read`` waits until its range is final,
then renders it with the same mix and master as ``export``.  Its ``total`` is an
allowance for the player's buffer (an upper estimate, fixed when first asked) until the
last clip is spoken, then the exact length; ``expected_total`` is the best guess to show.
When every clip is cached nothing is spoken and it is exact before the first read.
It plays nothing and draws nothing: ``playback`` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from legsup_audio.compile.compiler import check_length, compile_script
from legsup_audio.compile.timeline import Timeline
from legsup_audio.errors import OutputError, ScriptError
from legsup_audio.model import CueScript
from legsup_audio.pipeline import Session, load, mastered, speech_failure, voice_choice
from legsup_audio.render.bed.track import lookback_ms
from legsup_audio.render.master import TARGET_LUFS, Mastered, look_around
from legsup_audio.script.limits import DEFAULT_MAX_LENGTH_MS
from legsup_audio.script.resources import Found
from legsup_audio.speech.base import Clip, SpeechEngine, SpeechOptions, Task, VoiceInfo
from legsup_audio.speech.cache import ClipCache, ClipRef
from legsup_audio.speech.engines import make_engine
from legsup_audio.speech.pacing import pieces
from legsup_audio.speech.recordings import takes_for
from legsup_audio.speech.speaker import Speaker, text_locations
from legsup_audio.speech.voices import VoiceProfile, get_profile
from legsup_audio.units import SAMPLE_RATE, frame_to_ms, ms_to_frame

#: How long an unspoken clip is taken to be while working out what is final: short
#: enough that nothing after it can come earlier in the real session.
PLACEHOLDER_MS = 1
#: The probe compiles ignore the length limit (the final compile applies it).
NO_LIMIT_MS = 1 << 60
#: Speech pace assumed before any clip is known (ms per character; the default voice
#: speaks at about 60, its slowest cue at 81).
DEFAULT_MS_PER_CHAR = 90
#: The player's buffer is sized for every unspoken clip at this many times the slowest
#: pace heard so far: a session that turns out longer still plays, with a restart.
ALLOWANCE_FACTOR = 1.5


class _Cancelled(Exception):
    """Speaking was stopped (play ended or was interrupted): no more clips are started."""


class _Watched(SpeechEngine):
    """An engine that refuses new clips once ``stop`` is set and says when it is first used.

    Every call ends by setting ``ended``.  With ``after`` (the same event), its first call
    waits until another engine's call has ended, made or failed: the spare worker of a cold
    play starts once the first clip is in, so that clip and the renderer's first tables
    have a core each instead of sharing them with a second worker starting up.
    """

    def __init__(self, engine: SpeechEngine, stop: threading.Event, used: Callable[[], None],
                 ended: threading.Event, after: threading.Event | None = None) -> None:
        self.engine, self.id, self._stop, self._used = engine, engine.id, stop, used
        self._ended, self._after = ended, after

    def version(self) -> str:
        return self.engine.version()

    def voices(self) -> list[VoiceInfo]:
        return self.engine.voices()

    def _begin(self) -> None:
        while self._after is not None and not self._after.wait(0.1):
            if self._stop.is_set():
                break
        self._after = None
        if self._stop.is_set():
            raise _Cancelled()
        self._used()

    def _call(self, call: Callable[..., Clip], *args: Any) -> Clip:
        self._begin()
        try:
            return call(*args)
        finally:
            self._ended.set()

    def synthesize(self, text: str, options: SpeechOptions) -> Clip:
        return self._call(self.engine.synthesize, text, options)

    def run(self, task: Task, text: str, options: SpeechOptions) -> Clip:
        """``task`` where the engine runs (its worker process: the clip is levelled on that core)."""
        return self._call(self.engine.run, task, text, options)

    def close(self) -> None:
        self.engine.close()

    def abort(self) -> None:
        """Stop a clip being spoken (from another thread), if the engine can."""
        if (abort := getattr(self.engine, "abort", None)) is not None:
            abort()


class _Unspoken:
    """Stands in for a clip not spoken yet: silence, ``PLACEHOLDER_MS`` long (never read for real)."""

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self.frames = rate * PLACEHOLDER_MS // 1000
        self.duration_ms = PLACEHOLDER_MS

    def load(self) -> Clip:
        return Clip(np.zeros(self.frames, dtype=np.int16), self.rate)


@dataclass(frozen=True)
class Horizon:
    """What is known at one moment: the timeline so far and how much of the audio is final."""

    timeline: Timeline  # unspoken clips at PLACEHOLDER_MS: exact before ``spoken_ms``
    clips: Mapping[str, ClipRef]  # the clips spoken so far
    spoken_ms: int | None  # where the first unspoken cue starts; None: every clip is known
    final_frames: int  # mastered frames [0, final_frames) are as they will be
    final: bool  # every clip spoken and the real timeline compiled: everything is exact


def horizon_of(timeline: Timeline, clips: Mapping[str, ClipRef], background: bool, final: bool) -> Horizon:
    """The horizon of a timeline compiled with the unspoken clips at ``PLACEHOLDER_MS``."""
    total = ms_to_frame(timeline.duration)
    if final:
        return Horizon(timeline, clips, None, total, True)
    starts = [e.start for e in timeline.speech() if e.text not in clips]
    spoken = min(starts, default=None)
    near, end = lookback_ms(timeline.get("background") if background else None)
    # The placeholder timeline's length is the least the session can last: its end reaches back from there.
    exact_ms = timeline.duration - end if spoken is None else min(spoken - near, timeline.duration - end)
    frames = max(0, ms_to_frame(max(0, exact_ms)) - look_around(SAMPLE_RATE))
    return Horizon(timeline, clips, spoken, frames, False)


def ms_per_char(clips: Mapping[str, ClipRef], ellipsis_pause_ms: int) -> tuple[float, float]:
    """The pace of the clips heard so far (ms per character of speech): the mean and the slowest."""
    ratios, spoken, chars = [], 0, 0
    for text, ref in clips.items():
        parts = pieces(text, ellipsis_pause_ms)
        n = sum(len(p) for p in parts if isinstance(p, str))
        ms = ref.duration_ms - sum(p for p in parts if isinstance(p, int))
        if n > 0 and ms > 0:
            ratios.append(ms / n)
            spoken, chars = spoken + ms, chars + n
    if not ratios:
        return DEFAULT_MS_PER_CHAR, DEFAULT_MS_PER_CHAR
    return spoken / chars, max(ratios)


def guess_ms(text: str, pace: float, ellipsis_pause_ms: int) -> int:
    """How long ``text`` may take at ``pace`` ms per character, with its written pauses."""
    parts = pieces(text, ellipsis_pause_ms)
    return int(sum(p if isinstance(p, int) else pace * len(p) for p in parts)) + 1


class LiveSession:
    """A session spoken in the background while it plays; see the module docstring.

    ``start()`` begins speaking; ``wait_ready``, ``step_start`` and the source's reads
    wait for what they need (raising what went wrong while speaking); ``close()`` stops
    speaking at once (the workers are killed) and closes the engines.
    """

    def __init__(
        self,
        script: CueScript,
        profile: VoiceProfile,
        *,
        cache: ClipCache | None = None,
        engine_factory: Callable[[], SpeechEngine] | None = None,
        max_length_ms: int = DEFAULT_MAX_LENGTH_MS,
        background: bool = True,
        target_lufs: float = TARGET_LUFS,
    ) -> None:
        self.script, self.profile = script, profile
        self.background, self.target_lufs, self.max_length_ms = background, target_lufs, max_length_ms
        self._cache = cache or ClipCache()
        self._factory = engine_factory or (lambda: make_engine(profile))
        self._takes = takes_for(script)
        first = compile_script(script, lambda text: PLACEHOLDER_MS, NO_LIMIT_MS)  # ScriptError: see `open_live`
        # First heard, first spoken; texts no event speaks (none today) last.
        heard = [e.text for e in first.speech() if e.text]
        self.order = list(dict.fromkeys(heard + script.spoken_texts()))
        self._occurrences = [e.text for e in first.speech() if e.text]
        self._cond = threading.Condition()
        self._known: dict[str, ClipRef] = {}
        self._version = 0
        self._horizon = horizon_of(first, {}, background, final=False)
        self._horizon_version = 0
        self._final_session: Session | None = None
        self._error: BaseException | None = None
        self._synthesizing = False
        self._stop = threading.Event()
        self._first_clip = threading.Event()  # a clip was made or failed: the spare worker may start (`_Watched`)
        self._engines: list[_Watched] = []
        self._thread: threading.Thread | None = None
        self._expected: tuple[Horizon, int] | None = None
        self._warmed: Mastered | None = None

    @cached_property
    def source(self) -> LiveSource:
        """The session's audio as a ``PcmSource`` (made on first use: speaking need not wait for it)."""
        return LiveSource(self)

    # --- speaking (a background thread) -----------------------------------------------------
    def start(self, lead_frames: int = 0, from_step: int | None = None) -> None:
        """Begin speaking, in the background, the texts needed for the first ``lead_frames``
        (from step ``from_step``, 0-based) first, longest first so that the two workers end
        them together; then the rest as they are heard."""
        from legsup_audio.checkpoint import signals_held

        needed = self._needed_first(lead_frames, from_step)
        pause = self.profile.options.ellipsis_pause_ms
        first = sorted((text for text in self.order if text in needed), key=lambda text: -guess_ms(
            text, DEFAULT_MS_PER_CHAR, pause))  # a stable sort: equal guesses keep the order heard
        self.order = first + [text for text in self.order if text not in needed]

        with signals_held():  # a stop signal cannot fall between making the engine and handing it on
            engine = self._watch(self._factory())
            self._thread = threading.Thread(target=self._speak, args=(engine,), name="legsup-live-speak",
                                            daemon=True)
            self._thread.start()
        self._warm()

    def _warm(self) -> None:
        """Render the first second of the session as far as it is known, and throw it away.

        The bed's one-time tables (a drone's wavetable, a bell's strike: half a second on the
        default session) are made once per process; making them now, while the speech workers
        start and speak the first cue, takes them off the time to the first sound.
        """
        try:
            source = self.mastered_for(self.horizon())
            source.render(0, min(source.total, SAMPLE_RATE))
        except Exception:  # noqa: BLE001 - only a head start: the real render reports any problem
            return
        self._warmed = source  # the tables are shared weakly (``render.bed.periodic``): kept alive by this

    def _needed_first(self, lead_frames: int, from_step: int | None) -> set[str]:
        """The texts first heard before the sound can start, by a guess at their lengths."""
        if lead_frames <= 0:
            return set()
        pause = self.profile.options.ellipsis_pause_ms
        try:
            guessed = compile_script(self.script, lambda text: guess_ms(text, DEFAULT_MS_PER_CHAR, pause),
                                     NO_LIMIT_MS)
        except ScriptError:
            return set()
        begin = 0 if from_step is None else guessed.steps[from_step].start
        near, _ = lookback_ms(guessed.get("background") if self.background else None)
        end = begin + frame_to_ms(lead_frames) + near
        return {e.text for e in guessed.speech() if e.text and e.start < end}

    def _watch(self, engine: SpeechEngine, after: threading.Event | None = None) -> SpeechEngine:
        watched = _Watched(engine, self._stop, self._synthesis_began, self._first_clip, after)
        with self._cond:
            self._engines.append(watched)
        if self._stop.is_set():  # closed while it was being made
            watched.abort()
        return watched

    def _synthesis_began(self) -> None:
        with self._cond:
            if not self._synthesizing:
                self._synthesizing = True
                self._cond.notify_all()

    def _speak(self, engine: SpeechEngine) -> None:
        from legsup_audio.checkpoint import during

        try:
            speaker = Speaker(engine, self.profile.options, self._cache,
                              lambda: self._watch(self._factory(), after=self._first_clip), self._takes)
            clips = speaker.speak(self.order, during("synthesis", None), where=text_locations(self.script),
                                  on_clip=self._arrived)
            timeline = compile_script(self.script, lambda text: clips[text].duration_ms, self.max_length_ms)
            with self._cond:
                self._final_session = Session(self.script, self.profile, clips, timeline)
                self._horizon = horizon_of(timeline, clips, self.background, final=True)
                self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits (the player, the command)
            if not self._stop.is_set():  # after `close`, what stopping the workers raised is no news
                self._fail(OutputError(speech_failure(exc)) if isinstance(exc, OSError) else exc)
        finally:
            engine.close()

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = exc
            self._cond.notify_all()

    def _arrived(self, text: str, ref: ClipRef) -> None:
        with self._cond:
            self._known[text] = ref
            self._version += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Stop speaking at once (the speech workers are killed) and wait for the engines to close."""
        self._stop.set()
        with self._cond:
            engines = list(self._engines)
        for engine in engines:
            engine.abort()
        if self._thread is not None:
            self._thread.join()

    # --- what is known ------------------------------------------------------------------------
    def horizon(self) -> Horizon:
        """The latest horizon (compiled again only when a clip arrived since it was last asked for)."""
        with self._cond:
            if self._horizon.final or self._horizon_version == self._version:
                return self._horizon
            known, version = dict(self._known), self._version
        try:
            timeline = compile_script(self.script, lambda text: known[text].duration_ms if text in known
                                      else PLACEHOLDER_MS, NO_LIMIT_MS)
        except ScriptError:
            # The clips so far already break a timing rule: the final compile reports every
            # problem once all is spoken; until then the horizon stays where it was.
            timeline = None
        with self._cond:
            if not self._horizon.final and version > self._horizon_version:
                if timeline is not None:
                    self._horizon = horizon_of(timeline, known, self.background, final=False)
                self._horizon_version = version
            return self._horizon

    def wait_for(self, done: Callable[[Horizon], bool], timeout: float | None = None) -> Horizon | None:
        """The horizon once ``done`` holds for it (None after ``timeout`` s); raises what went wrong while speaking."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                if self._error is not None:
                    raise self._error
                version = self._version
            horizon = self.horizon()
            if done(horizon):
                return horizon
            if self._stop.is_set():  # closed: what is not spoken yet never will be
                raise _Cancelled()
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return None
            with self._cond:
                if self._error is None and self._version == version and not self._horizon.final:
                    self._cond.wait(left)  # short: Ctrl-C is seen in the main thread

    def until(self, done: Callable[[Horizon], bool]) -> Horizon:
        horizon = self.wait_for(done)
        assert horizon is not None
        return horizon

    def wait_ready(self, start_ms: int, lead_frames: int) -> None:
        """Wait until ``lead_frames`` from ``start_ms`` are final (or the whole session is).

        With every clip cached nothing is synthesised: then it waits for the exact session,
        so the player is given its exact length, as before.
        """
        target = ms_to_frame(start_ms) + lead_frames

        def ready(h: Horizon) -> bool:
            with self._cond:
                synthesizing = self._synthesizing
            return h.final or (synthesizing and h.final_frames >= target)

        self.until(ready)

    def step_start(self, index: int) -> int:
        """The start of step ``index`` (0-based) in ms, once it is exact (every clip before it is spoken)."""

        def known(h: Horizon) -> bool:
            return h.final or h.spoken_ms is None or h.timeline.steps[index].start <= h.spoken_ms

        return self.until(known).timeline.steps[index].start

    def wait_final(self) -> Horizon:
        """Wait until everything is spoken and the session is exact."""
        return self.until(lambda h: h.final)

    def final_session(self) -> Session | None:
        with self._cond:
            return self._final_session

    @property
    def timeline(self) -> Timeline:
        """The timeline as far as it is known: exact up to the horizon (and wholly, once final)."""
        return self.horizon().timeline

    def expected_ms(self) -> int:
        """The session's length: exact once final, else a guess from the pace heard so far."""
        h = self.horizon()
        if h.final:
            return h.timeline.duration
        if self._expected is not None and self._expected[0] is h:  # asked for at every redraw
            return self._expected[1]
        pause = self.profile.options.ellipsis_pause_ms
        pace, _ = ms_per_char(h.clips, pause)
        guesses = {text: guess_ms(text, pace, pause) for text in self.order if text not in h.clips}
        try:
            guess = compile_script(self.script, lambda text: h.clips[text].duration_ms if text in h.clips
                                   else guesses[text], NO_LIMIT_MS).duration
        except ScriptError:
            guess = h.timeline.duration + sum(guesses.get(text, 0) for text in self._occurrences)
        self._expected = (h, guess)
        return guess

    def allowance_ms(self) -> int:
        """An upper estimate of the session's length: each unspoken cue can add at most its own length."""
        h = self.horizon()
        if h.final:
            return h.timeline.duration
        pause = self.profile.options.ellipsis_pause_ms
        _, slowest = ms_per_char(h.clips, pause)
        pace = ALLOWANCE_FACTOR * slowest
        return h.timeline.duration + sum(guess_ms(text, pace, pause) for text in self._occurrences
                                         if text not in h.clips)

    def mastered_for(self, horizon: Horizon) -> Mastered:
        """The mix and master of ``horizon``'s timeline, as ``export`` makes them (right up to its final frames)."""
        session = self._final_session if horizon.final else None
        if session is None:
            clips: dict[str, ClipRef] = dict(horizon.clips)
            for text in self.order:
                clips.setdefault(text, _Unspoken())  # type: ignore[arg-type]  # silent, past the horizon
            session = Session(self.script, self.profile, clips, horizon.timeline)
        source, _ = mastered(session, self.target_lufs, background=self.background)
        return source


class LiveSource:
    """The ``PcmSource`` of a ``LiveSession``: reads wait until their frames are final."""

    def __init__(self, live: LiveSession) -> None:
        self.live = live
        self.rate = SAMPLE_RATE
        horizon = live.horizon()
        self._master: Mastered = live.mastered_for(horizon)
        self.channels = self._master.channels  # a bed makes it stereo, however long the clips are
        self._master_frames, self._master_final = horizon.final_frames, horizon.final
        self._allowance: int | None = None

    @property
    def exact(self) -> bool:
        """The length (and the timeline) are final."""
        return self.live.horizon().final

    @property
    def total(self) -> int:
        """Frames: the exact length once known; before that an allowance, fixed when first asked for."""
        h = self.live.horizon()
        if h.final:
            return ms_to_frame(h.timeline.duration)
        if self._allowance is None:
            self._allowance = ms_to_frame(self.live.allowance_ms())
        return self._allowance

    @property
    def expected_total(self) -> int:
        """Frames: the exact length once known, else the best guess (for showing)."""
        return ms_to_frame(self.live.expected_ms())

    def current_timeline(self) -> Timeline:
        return self.live.timeline

    def step_start_ms(self, index: int) -> int:
        return self.live.step_start(index)

    def end_ms(self) -> int:
        """The session's exact length in ms, waiting for it if need be."""
        return self.live.wait_final().timeline.duration

    def wait_until(self, end: int, timeout: float) -> bool:
        """Whether frames up to ``end`` are final, waiting at most ``timeout`` s (the player's
        reader asks this first, so that it can be closed while speech goes on)."""
        if self._master_final or end <= self._master_frames:
            return True
        return self.live.wait_for(lambda h: h.final or h.final_frames >= end, timeout) is not None

    def read(self, start: int, n: int) -> np.ndarray:
        """int16 ``(n, channels)``: frames [start, start + n), once final (waits while they are spoken)."""
        end = start + n
        if not self._master_final and end > self._master_frames:
            h = self.live.until(lambda h: h.final or h.final_frames >= end)
            self._master = self.live.mastered_for(h)
            self._master_frames, self._master_final = h.final_frames, h.final
            if self._master.channels != self.channels:  # cannot happen: the layers do not depend on lengths
                raise RuntimeError("the session's channels changed while it was spoken")
        return self._master.read(start, n)


def open_live(
    found: Found | str | Path | None,
    *,
    max_length_ms: int = DEFAULT_MAX_LENGTH_MS,
    voice: str | None = None,
    background: bool = True,
    target_lufs: float = TARGET_LUFS,
    cache: ClipCache | None = None,
    engine_factory: Callable[[], SpeechEngine] | None = None,
) -> LiveSession:
    """A ``LiveSession`` of a script, not yet speaking (call ``start``).

    Problems found before speaking (the script itself, the length from its silences) are
    raised here.  A script whose timing is broken whatever its clips' lengths (a bell at a
    step that does not exist) is spoken whole first, like ``export``, so that every problem
    is reported together.
    """
    script = load(found)
    check_length(script, max_length_ms)
    profile = get_profile(voice_choice(voice) if voice is not None else script.voice)
    try:
        return LiveSession(script, profile, cache=cache, engine_factory=engine_factory,
                           max_length_ms=max_length_ms, background=background, target_lufs=target_lufs)
    except ScriptError:
        from legsup_audio.pipeline import build

        build(found, cache=cache, max_length_ms=max_length_ms, voice=voice)  # raises the full list
        raise


__all__ = ["Horizon", "LiveSession", "LiveSource", "horizon_of", "open_live"]
