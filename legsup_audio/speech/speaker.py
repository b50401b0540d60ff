"""Speak stage: every distinct text of a script to a verified, mix-ready, cached clip.

Owns the one place where engines are called: one call per distinct text that is
not already cached, each result checked (audible, non-empty), then made ready to
mix once, before it is stored: trimmed of leading and trailing silence,
resampled to the session rate, faded over a few ms at each edge and levelled
by one gain to a common loudness (so every cue sounds equally loud, and the
voice profile's volume is a level relative to the background), and only its
loudest syllables held by a gentle look-ahead limiter (a held release that never
follows the pitch); nothing else changes the waveform.  A cue's inline
pauses and "..." (``pacing``) split it into pieces spoken separately and
joined with exact silences.  Distinct texts are spoken by two engines at once
when the caller gives a spare, and each clip is made ready where its engine runs
(``SpeechEngine.run``: a supervised engine's worker process), so that work is
shared by the cores too.
A text with a recorded take (``takes``: the script's ``recordings:``) is not
spoken: the take is decoded and high-passed (``takes``) and then goes through
the same chain, so recorded and synthetic cues sit at one loudness; it is cached
by the hash of its file's bytes, so a new take is used at once.  A take that
cannot be used is a ``ScriptError`` at the line of the cue it records, all
such problems together, before anything is synthesised.
Callers get ``ClipRef``s whose lengths drive the compiler and whose samples
feed the renderer; a ref whose entry turns out damaged when it is loaded asks
the speaker to make it again.  When the engine fails on one text, the error
names the script line of the first cue that speaks it.
"""

from __future__ import annotations

import hashlib
import json
import queue
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from legsup_audio.dsp import k_weighted_squares, kaiser_lowpass
from legsup_audio.dsp import resample_poly as dsp_resample_poly
from legsup_audio.errors import Problem, ScriptError, SpeechError
from legsup_audio.model import CueScript, Pos, Say
from legsup_audio.units import SAMPLE_RATE, ms_to_frame
from legsup_audio.speech.base import Clip, ClipFailed, SpeechEngine, SpeechOptions
from legsup_audio.speech.cache import CLIP_FORMAT, STORE_HEADROOM_DB, ClipCache, ClipRef, clip_key
from legsup_audio.speech.leveling import MAX_MAKEUP_DB, TOLERANCE_LU, level, squares_loudness
from legsup_audio.speech.pacing import pieces
from legsup_audio.speech.takes import TAKE_CHAIN, TakeProblem, check_length, digest, read_take

#: Trimming: samples quieter than this (relative to the clip's peak) count as silence,
#: and this much is kept before the first / after the last audible sample.
TRIM_THRESHOLD_DB = -40.0
TRIM_MARGIN_MS = 5
#: Every clip is levelled to VOICE_LUFS (K-weighted and gated like BS.1770, so the
#: pauses inside a cue do not count) at volume 1.0: the voice's loudness in the mix,
#: which the master raises by one known gain to -16 LUFS.  Clips are stored
#: STORE_HEADROOM_DB lower (see ``cache``), so a voice's natural peaks fit in 16 bits.
VOICE_LUFS = -20.0
#: The true-peak ceiling of a levelled clip.  The master adds 4 dB (to -16 LUFS; 4.44 dB
#: for MP3, whose encoding loses 0.44 dB of loudness) and holds -2 dBTP; the voice then
#: reaches each channel 3 dB lower (centred in a stereo mix, or a mono file anchored
#: 3 dB lower, as it is heard on two ears: ``render.master.MONO_AS_HEARD_DB``), so a
#: clip may peak 16.5 dB over its loudness and pass the master untouched.  The bundled
#: voice peaks 14-24 dB over its loudness (median 20): the clip limiter takes a median
#: 5 dB from a clip's loudest syllable and acts on about a tenth of its time.  (At 13.5 dB,
#: with a mono file at -16 LUFS, it took a median 15 dB and acted on half the time.)
VOICE_PEAK_DBTP = -3.5
#: The clip limiter: gain changes ramp over VOICE_LIMITER_RAMP_S and, after a peak, hold
#: for VOICE_LIMITER_HOLD_S: it lowers a syllable, never follows the pitch (4-10 ms).
VOICE_LIMITER_RAMP_S = 0.010
VOICE_LIMITER_HOLD_S = 0.040
#: Each clip fades in and out over this long, so speech never starts with a jump.
EDGE_FADE_MS = 4
#: The resampler's anti-imaging filter: scipy's default (Kaiser beta 5, 10 taps a phase)
#: left the images of a 22.05 kHz voice above 11 kHz only ~57 dB under it; this one
#: (120 taps a phase, Kaiser beta 9, cut at 98% of the lower Nyquist) puts them past 100 dB.
RESAMPLE_TAPS_PER_PHASE = 120
RESAMPLE_BETA = 9.0
#: Up to this many filter phases the resampler is numpy's (``dsp.resample_poly``); a
#: 16 kHz voice (441 phases) goes through scipy's ``resample_poly``: the same samples.
RESAMPLE_PHASES_IN_NUMPY = 8
#: Everything above that shapes a stored clip; part of every cache key, so a change
#: here makes clips again instead of mixing old and new.
CHAIN = (f"lufs{VOICE_LUFS}/tp{VOICE_PEAK_DBTP}/ramp{VOICE_LIMITER_RAMP_S}/hold{VOICE_LIMITER_HOLD_S}"
         f"/fade{EDGE_FADE_MS}/trim{TRIM_THRESHOLD_DB},{TRIM_MARGIN_MS}/resample{RESAMPLE_TAPS_PER_PHASE},{RESAMPLE_BETA}"
         f"/makeup{MAX_MAKEUP_DB},{TOLERANCE_LU}")


def take_key(file_digest: str, options: SpeechOptions) -> str:
    """The cache key of a recorded take: its bytes' hash, the chains that shape it, and the volume."""
    payload = {"take": file_digest, "chain": f"{TAKE_CHAIN}|{CHAIN}", "volume": options.volume,
               "format": CLIP_FORMAT}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def clip_loudness(x: np.ndarray, rate: int) -> float:
    """K-weighted loudness of a clip, gated as BS.1770 (ungated when under 0.4 s)."""
    return squares_loudness(k_weighted_squares(x, rate), rate)


def resample(x: np.ndarray, source: int, rate: int) -> np.ndarray:
    """``x`` from ``source`` Hz to ``rate`` Hz, with nothing above the lower rate's band left."""
    g = np.gcd(rate, source)
    up, down = rate // g, source // g
    lowpass = kaiser_lowpass(RESAMPLE_TAPS_PER_PHASE * max(up, down) + 1, 0.49 * min(source, rate),
                             RESAMPLE_BETA, source * up)
    if up <= RESAMPLE_PHASES_IN_NUMPY:  # 22 050 Hz (every bundled voice) to 44 100 Hz: no scipy.signal (1-2 s to import)
        return dsp_resample_poly(x, up, down, lowpass)
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, window=lowpass)


def voice(clip: Clip, volume: float = 1.0, rate: int = SAMPLE_RATE) -> Clip:
    """A trimmed clip made ready to mix: at ``rate``, faded at its edges, levelled, its rare peaks held.

    One gain sets the loudness; a look-ahead true-peak limiter with a held
    release brings down only the syllables that would pass VOICE_PEAK_DBTP, and
    the gain is corrected for what that took, so every clip keeps its loudness.
    The stored clip sits STORE_HEADROOM_DB under its level in the mix.
    """
    x = clip.samples.astype(np.float64) / 32768.0
    if clip.rate != rate:
        x = resample(x, clip.rate, rate)
    fade = min(x.shape[0] // 2, rate * EDGE_FADE_MS // 1000)
    if fade:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    target = VOICE_LUFS + 20 * np.log10(max(volume, 1e-3))
    ceiling = 10 ** ((VOICE_PEAK_DBTP + target - VOICE_LUFS) / 20)
    window, hold = max(1, int(rate * VOICE_LIMITER_RAMP_S)), int(rate * VOICE_LIMITER_HOLD_S)
    y = level(x, rate, target, ceiling, window, hold) * 10 ** (-STORE_HEADROOM_DB / 20)
    return Clip(np.clip(np.rint(y * 32767), -32768, 32767).astype(np.int16), rate)


def trim_silence(clip: Clip) -> Clip | None:
    """The clip without its leading and trailing silence, or None if it is all silence."""
    samples = clip.samples
    if samples.size == 0:
        return None
    level = np.abs(samples.astype(np.int32))
    peak = int(level.max())
    if peak < 33:  # below -60 dBFS: nothing audible at all
        return None
    loud = np.flatnonzero(level >= peak * 10 ** (TRIM_THRESHOLD_DB / 20))
    margin = ms_to_frame(TRIM_MARGIN_MS, clip.rate)
    first = max(0, int(loud[0]) - margin)
    last = min(samples.size, int(loud[-1]) + 1 + margin)
    return Clip(np.ascontiguousarray(samples[first:last]), clip.rate)


@dataclass
class Speaker:
    """Turns texts into cached clips with one engine and one set of options.

    ``spare`` makes a second engine (its own worker process) when more than one
    text must be synthesised, so both cores speak; every engine gives the same
    samples for the same text, so which one speaks a text does not matter.
    ``takes`` maps a text to the recording that speaks it instead of the engine.
    """

    engine: SpeechEngine
    options: SpeechOptions
    cache: ClipCache
    spare: Callable[[], SpeechEngine] | None = None
    takes: Mapping[str, Path] = field(default_factory=dict)

    def key(self, text: str) -> str:
        return clip_key(self.engine.id, f"{self.engine.version()}|{CHAIN}", self.options, text)

    def speak(
        self,
        texts: Iterable[str],
        progress: Callable[[int, int], None] | None = None,
        where: Mapping[str, str] | None = None,
        on_clip: Callable[[str, ClipRef], None] | None = None,
    ) -> dict[str, ClipRef]:
        """A clip for every text, synthesising only those not yet cached.

        ``where`` maps a text to the ``file:line:col`` of the first cue that speaks
        it (see ``text_locations``), so an engine failure can name that line.
        ``on_clip(text, ref)`` is told of each clip as soon as it is ready (cached
        ones first, then in the order given), so a caller can use them before the
        last is spoken (``legsup play``).
        """
        unique = list(dict.fromkeys(texts))
        where = where or {}
        version = f"{self.engine.version()}|{CHAIN}"  # once: engines may be slow to report it
        problems: list[Problem] = []
        keys: dict[str, str] = {}
        for text in unique:
            if (take := self.takes.get(text)) is None:
                keys[text] = clip_key(self.engine.id, version, self.options, text)
                continue
            try:
                keys[text] = take_key(digest(take), self.options)
            except TakeProblem as exc:
                problems.append(_problem(where.get(text), str(exc)))
        if problems:
            raise ScriptError(problems)
        refs: dict[str, ClipRef] = {}
        missing = []
        for text in unique:
            if (ref := self.cache.get(keys[text])) is not None:
                refs[text] = ref
                if on_clip:
                    on_clip(text, ref)
            else:
                missing.append(text)
        done = len(refs)
        if progress and done:
            progress(done, len(unique))

        def store(text: str, clip: Clip) -> None:
            nonlocal done
            refs[text] = self.cache.put(keys[text], clip)
            if on_clip:
                on_clip(text, refs[text])
            done += 1
            if progress:
                progress(done, len(unique))

        recorded = [text for text in missing if text in self.takes]
        for text in recorded:  # every take first: their problems are reported before any slow synthesis
            try:
                clip = self._take(text)
            except TakeProblem as exc:
                problems.append(_problem(where.get(text), str(exc)))
                continue
            store(text, clip)
        if problems:
            raise ScriptError(problems)
        for text, clip in self._synthesize_all([t for t in missing if t not in self.takes], where):
            store(text, clip)
        return {text: refs[text].with_repair(partial(self._remake, keys[text], text, where.get(text)))
                for text in unique}

    def _take(self, text: str) -> Clip:
        """The recorded take of ``text``, mix-ready like a synthetic clip (plus the take's high-pass)."""
        path = self.takes[text]
        trimmed = trim_silence(read_take(path, text))
        if trimmed is None:
            raise TakeProblem(f"recording {path} is silent: check the microphone and record it again")
        check_length(trimmed, text, path)
        return voice(trimmed, self.options.volume)

    def _synthesize_all(self, texts: list[str], where: Mapping[str, str]) -> Iterator[tuple[str, Clip]]:
        """(text, clip) for each text, in order; two engines at once when there is a spare."""
        if len(texts) < 2 or self.spare is None:
            for text in texts:
                yield text, self._synthesize(text, where.get(text), self.engine)
            return
        spare = self.spare()
        try:
            engines: queue.Queue[SpeechEngine] = queue.Queue()
            engines.put(self.engine)
            engines.put(spare)

            def job(text: str) -> Clip:
                engine = engines.get()
                try:
                    return self._synthesize(text, where.get(text), engine)
                finally:
                    engines.put(engine)

            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="legsup-speak") as pool:
                futures = [pool.submit(job, text) for text in texts]
                try:
                    for text, future in zip(texts, futures):
                        yield text, future.result()
                finally:
                    for future in futures:
                        future.cancel()
        finally:
            spare.close()

    def _remake(self, key: str, text: str, location: str | None) -> ClipRef:
        if text in self.takes:
            try:
                clip = self._take(text)
            except TakeProblem as exc:
                raise ScriptError([_problem(location, str(exc))]) from None
        else:
            clip = self._synthesize(text, location, self.engine)
        return self.cache.put(key, clip)

    def _synthesize(self, text: str, location: str | None, engine: SpeechEngine) -> Clip:
        try:
            return engine.run(ready_clip, text, self.options)  # in the engine's worker: on its core
        except ClipFailed as exc:
            raise SpeechError(f"{location}: {exc}" if location else str(exc)) from None


def ready_clip(engine: SpeechEngine, text: str, options: SpeechOptions) -> Clip:
    """``text`` spoken by ``engine``, piece by piece between its inline pauses, and made mix-ready.

    Raises ``ClipFailed``.  Run through ``SpeechEngine.run``, so a supervised
    engine's worker does it all and each core levels the clips it speaks.
    """
    parts = pieces(text, options.ellipsis_pause_ms)
    if parts == [" ".join(text.split())]:
        parts = [text]  # nothing to split: the engine hears the text exactly as written
    clips = [_piece(engine, piece, options) if isinstance(piece, str) else piece for piece in parts]
    rates = {c.rate for c in clips if isinstance(c, Clip)}
    if not rates:
        raise ClipFailed(f"there is nothing to say in {text[:60]!r}, only pauses")
    rate = rates.pop() if len(rates) == 1 else SAMPLE_RATE
    joined = np.concatenate([
        np.zeros(rate * c // 1000, dtype=np.int16) if isinstance(c, int) else _at_rate(c, rate)
        for c in clips])
    return voice(Clip(joined, rate), options.volume)


def _piece(engine: SpeechEngine, text: str, options: SpeechOptions) -> Clip:
    """One piece of a cue's text, spoken and trimmed."""
    trimmed = trim_silence(engine.synthesize(text, options))
    if trimmed is None:
        trimmed = trim_silence(engine.synthesize(text, options))  # one more try: a racy empty clip
    if trimmed is None:
        raise ClipFailed(f"the speech engine produced no audible sound for {text[:60]!r}")
    return trimmed


def _at_rate(clip: Clip, rate: int) -> np.ndarray:
    if clip.rate == rate:
        return clip.samples
    y = resample(clip.samples.astype(np.float64), clip.rate, rate)
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def text_positions(script: CueScript) -> dict[str, Pos]:
    """The position of the first cue (or speaking block) that speaks each text."""
    found: dict[str, Pos] = {}
    for step in script.steps:
        for cue in step.cues:
            if isinstance(cue, Say):
                found.setdefault(cue.text, cue.pos)
        for _, block in step.extras:
            if callable(texts := getattr(block, "spoken_texts", None)):
                pos = getattr(block, "guide_pos", None) or getattr(block, "pos", None) or step.pos
                for text in texts():
                    found.setdefault(text, pos)
    return found


def text_locations(script: CueScript) -> dict[str, str]:
    """``file:line:col`` of the first cue (or speaking block) that speaks each text."""
    file = str(script.path)
    return {text: f"{file}:{pos.line}:{pos.col}" for text, pos in text_positions(script).items()}


def _problem(location: str | None, message: str) -> Problem:
    """A script problem at a ``file:line:col`` location (from ``text_locations``)."""
    file, line, col = (location or "?:1:1").rsplit(":", 2)
    return Problem(file, int(line), int(col), message)
