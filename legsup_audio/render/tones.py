"""The breathing guide's tone: a soft sine that glides up while breathing in, down while out.

Owns the sound of the timeline's ``tone`` events (made by ``breathe`` for
``guide: tone`` and after ``voice_cycles``): each is a pure sine whose pitch
moves smoothly (evenly in musical pitch) from the event's ``from_hz`` to its
``to_hz`` across the event, shaped by raised-cosine attack and release so it
swells in and fades out with no click.  ``ToneTrack`` is a render ``Layer``:
``render(start, n)`` computes each sample from its frame index within its tone,
in closed form, so any frame range renders to the same samples however it is
cut into blocks.  numpy only.  It does not decide when tones happen (the
compiler does) or how loud the session is (the master does).
"""

from __future__ import annotations

import numpy as np

from legsup_audio.render.levels import TONE_TRUE_PEAK, Profile, k_power_gain, step_frames
from legsup_audio.render.mix import overlapping
from legsup_audio.units import SAMPLE_RATE, ms_to_frame
from legsup_audio.compile.breathe import TONE_HIGH_HZ, TONE_LOW_HZ
from legsup_audio.compile.timeline import Timeline

#: RMS of the sustained tone, dBFS, in the unmastered mix where every voice clip is
#: levelled to ``speech.speaker.VOICE_LUFS`` (-20 LUFS): about 4 dB under the voice,
#: so the tone is clearly there but never louder than a spoken cue.
TONE_RMS_DBFS = -24.0
#: The swell in and the fade out (raised-cosine), in seconds; on a short phase each
#: takes at most ``TONE_EDGE_SHARE`` of it.
TONE_ATTACK_S = 0.6
TONE_RELEASE_S = 0.9
TONE_EDGE_SHARE = 1 / 3

TONE_AMPLITUDE = float(np.sqrt(2.0) * 10 ** (TONE_RMS_DBFS / 20))


def tone_envelope(t: np.ndarray, total: float) -> np.ndarray:
    """The raised-cosine swell and fade of a ``total``-second tone at times ``t`` (s)."""
    attack = min(TONE_ATTACK_S, total * TONE_EDGE_SHARE)
    release = min(TONE_RELEASE_S, total * TONE_EDGE_SHARE)
    rise = np.clip(t / attack, 0.0, 1.0)
    fall = np.clip((total - t) / release, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))


def tone_samples(k: np.ndarray, length: int, from_hz: float, to_hz: float, rate: int = SAMPLE_RATE) -> np.ndarray:
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
    return TONE_AMPLITUDE * tone_envelope(t, total) * np.sin(phase)


class ToneTrack:
    """Every ``tone`` event of a timeline, as a mono render layer."""

    channels = 1

    def __init__(self, timeline: Timeline, rate: int = SAMPLE_RATE) -> None:
        tones = [e for e in timeline.events if e.kind == "tone"]  # sorted, and they never overlap
        self.rate = rate
        self._starts = [ms_to_frame(e.start, rate) for e in tones]
        self._ends = [ms_to_frame(e.end, rate) for e in tones]
        self._hz = [(float(e.get("from_hz", TONE_LOW_HZ)), float(e.get("to_hz", TONE_HIGH_HZ))) for e in tones]

    def __len__(self) -> int:
        return len(self._starts)

    def identity(self) -> str:
        return ""  # the tones are the timeline's tone events, nothing else

    def profile(self, step: int, count: int) -> Profile:
        """Per-step energy and peak of the tones, in closed form (a sine's power is half its amplitude squared)."""
        energies, peaks = np.zeros(count), np.zeros(count)
        grid = step_frames(step, 1)[0]
        for at, until, (f0, f1) in zip(self._starts, self._ends, self._hz):
            k0, k1 = at // step, min(count, -(-until // step))
            if k0 >= k1:
                continue
            frames = (np.arange(k0, k1)[:, None] * step + grid[None, :]) - at
            inside = (frames >= 0) & (frames < until - at)
            t = np.clip(frames, 0, until - at) / self.rate
            total = (until - at) / self.rate
            amp = TONE_AMPLITUDE * tone_envelope(t, total) * inside
            freq = f0 * (f1 / f0) ** (t / total)
            power = 0.5 * amp[:, 1:-1] ** 2 * k_power_gain(freq[:, 1:-1], self.rate)  # the inner points
            energies[k0:k1] += power.mean(axis=1) * step
            peaks[k0:k1] = np.maximum(peaks[k0:k1], amp.max(axis=1) * TONE_TRUE_PEAK)
        return Profile(energies, peaks)

    def render(self, start: int, n: int) -> np.ndarray:
        out = np.zeros((n, 1), dtype=np.float32)
        end = start + n
        for i in overlapping(self._starts, self._ends, start, end):
            at, until = self._starts[i], self._ends[i]
            lo, hi = max(start, at), min(end, until)
            if lo < hi:
                k = np.arange(lo - at, hi - at)
                out[lo - start : hi - start, 0] = tone_samples(k, until - at, *self._hz[i], rate=self.rate)
        return out
