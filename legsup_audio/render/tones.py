"""The breathing guide's tone: a soft sine that glides up while breathing in, down while out.

Owns the sound of the timeline's ``tone`` events (made by ``breathe`` for
``guide: tone`` and after ``voice_cycles``): each is a pure sine whose pitch
moves smoothly (evenly in musical pitch) from the event's ``from_hz`` to its
``to_hz`` across the event, shaped by raised-cosine attack and release so it
swells in and fades out with no click.  ``ToneTrack`` is a render ``Layer``:
``render(start, n)`` computes each sample from its frame index within its tone,
in closed form, so any frame range renders to the same samples however it is
cut into blocks.  A tone's ``level`` (from the breathe block, default
``DEFAULT_TONE_LEVEL_DB``) is its sustained loudness relative to the voice
(``render.levels``).  numpy only.  It does not decide when tones happen (the
compiler does).
"""

from __future__ import annotations

import numpy as np

from legsup_audio.render.mix import overlapping
from legsup_audio.render.levels import gain_for, sine_power
from legsup_audio.script.blocks.breathe import DEFAULT_TONE_LEVEL_DB
from legsup_audio.units import SAMPLE_RATE, ms_to_frame
from legsup_audio.compile.breathe import TONE_HIGH_HZ, TONE_LOW_HZ
from legsup_audio.compile.timeline import Timeline

#: The swell in and the fade out (raised-cosine), in seconds; on a short phase each
#: takes at most ``TONE_EDGE_SHARE`` of it.
TONE_ATTACK_S = 0.6
TONE_RELEASE_S = 0.9
TONE_EDGE_SHARE = 1 / 3



def tone_amplitude(level_db: float, from_hz: float, to_hz: float, rate: int = SAMPLE_RATE) -> float:
    """The sustained amplitude of a tone ``level_db`` LU under the voice (K-weighted at its middle pitch)."""
    return gain_for(level_db, sine_power(float(np.sqrt(from_hz * to_hz)), rate))


def tone_envelope(t: np.ndarray, total: float) -> np.ndarray:
    """The raised-cosine swell and fade of a ``total``-second tone at times ``t`` (s)."""
    attack = min(TONE_ATTACK_S, total * TONE_EDGE_SHARE)
    release = min(TONE_RELEASE_S, total * TONE_EDGE_SHARE)
    rise = np.clip(t / attack, 0.0, 1.0)
    fall = np.clip((total - t) / release, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))


def tone_samples(k: np.ndarray, length: int, from_hz: float, to_hz: float, rate: int = SAMPLE_RATE,
                 amplitude: float | None = None) -> np.ndarray:
    """Samples ``k`` (frame indices, 0 <= k < length) of a ``length``-frame guide tone, float64.

    The instantaneous frequency is ``from_hz * (to_hz / from_hz) ** (t / T)``; its
    phase is integrated in closed form, starting at 0.
    """
    t = np.asarray(k, dtype=np.float64) / rate
    total = length / rate
    ratio = to_hz / from_hz
    if abs(ratio - 1.0) < 1e-12:
        phase = 2 * np.pi * from_hz * t
    else:
        log_r = np.log(ratio)
        phase = 2 * np.pi * from_hz * total * np.expm1(t / total * log_r) / log_r
    if amplitude is None:
        amplitude = tone_amplitude(DEFAULT_TONE_LEVEL_DB, from_hz, to_hz, rate)
    return amplitude * tone_envelope(t, total) * np.sin(phase)


class ToneTrack:
    """Every ``tone`` event of a timeline, as a mono render layer."""

    channels = 1

    def __init__(self, timeline: Timeline, rate: int = SAMPLE_RATE) -> None:
        tones = [e for e in timeline.events if e.kind == "tone"]  # sorted, and they never overlap
        self.rate = rate
        self._starts = [ms_to_frame(e.start, rate) for e in tones]
        self._ends = [ms_to_frame(e.end, rate) for e in tones]
        self._hz = [(float(e.get("from_hz", TONE_LOW_HZ)), float(e.get("to_hz", TONE_HIGH_HZ))) for e in tones]
        self._amps = [tone_amplitude(float(e.get("level", DEFAULT_TONE_LEVEL_DB)), *hz, rate=rate)
                      for e, hz in zip(tones, self._hz)]

    def __len__(self) -> int:
        return len(self._starts)

    def render(self, start: int, n: int) -> np.ndarray:
        out = np.zeros((n, 1), dtype=np.float32)
        end = start + n
        for i in overlapping(self._starts, self._ends, start, end):
            at, until = self._starts[i], self._ends[i]
            lo, hi = max(start, at), min(end, until)
            if lo < hi:
                k = np.arange(lo - at, hi - at)
                out[lo - start : hi - start, 0] = tone_samples(k, until - at, *self._hz[i], rate=self.rate,
                                                               amplitude=self._amps[i])
        return out
