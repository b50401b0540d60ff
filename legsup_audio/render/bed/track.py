"""The bed as one layer of the mix: the timeline's background plan, faded, crossfaded and ducked.

This module owns turning the timeline's ``BedPlan`` (``Timeline.get("background")``,
written by ``legsup_audio.compile.background``) and the timeline's ``bell`` and ``speech`` events into
samples: each distinct source (a drone at a pitch, a noise colour, a music file...)
is one generator built once at 0 dB and given a gain envelope over the session:
its level in each step (a loudness relative to the voice, calibrated per source by
``render.levels``), a straight amplitude ramp where only its level changes, an
equal-power (sine/cosine) ramp where it starts or stops, both centred on the step
boundary and ``crossfade`` long.  The continuous layers then share the session's
``fade_in``/``fade_out`` and the ducking gain, which dips by ``duck`` dB while the
voice speaks (raised-cosine ramps in dB, starting ``DUCK_ATTACK_MS`` before each
cue so the bed is already down when the voice begins, rising ``DUCK_RELEASE_MS``
after it; cues closer than ``DUCK_HOLD_MS`` stay in one dip, so the bed does not
pump between sentences).  Bells ring as events: not ducked or faded, except that
everything reaches silence at the session's end.

The bed is stereo: noise is decorrelated left and right, a drone is a little wide,
and mono sources (isochronic tones, bells) are centred at equal power.
``render(start, n)`` is a pure function of the frame range, vectorised, with no
state that grows with the session; the master's one gain moves it with the voice.
"""

from __future__ import annotations

import bisect
import json
from typing import Any

import numpy as np

from legsup_audio.render.bed.generators import BELL_FREQ_HZ, Bells, Noise
from legsup_audio.render.bed.periodic import Binaural, Drone, Isochronic
from legsup_audio.errors import Problem, ScriptError
from legsup_audio.compile.timeline import BedPlan, Timeline
from legsup_audio.model import LayerSpec
from legsup_audio.script.blocks.background import DEFAULT_LEVEL_DB
from legsup_audio.render.levels import gain_for
from legsup_audio.render.mix import CENTRE
from legsup_audio.units import ms_to_frame

DUCK_ATTACK_MS = 250
DUCK_RELEASE_MS = 500
DUCK_HOLD_MS = 2000  # speech separated by less than this stays in one dip (no pumping)
END_GUARD_MS = 1500  # the bells (and anything still sounding) reach silence over the session's last 1.5 s


def _raised(u: np.ndarray) -> np.ndarray:
    """0 -> 1 over u in [0, 1], smooth at both ends."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


class _Source:
    """One generator and its amplitude in each segment of the plan."""

    def __init__(self, layer: Any, amps: np.ndarray) -> None:
        self.layer = layer
        self.amps = amps  # (segments,) linear gain; 0 where the source is silent
        # K-weighted power as it sounds in the stereo bed at unit gain (a mono source is centred at -3 dB)
        self.unit_power = layer.k_power() * (1.0 if layer.channels == 2 else 2 * CENTRE**2)


class BedTrack:
    """The background bed of a timeline, as a ``render.Layer``."""

    def __init__(self, timeline: Timeline, rate: int, file: str = "") -> None:
        plan: BedPlan | None = timeline.get("background")
        self.rate = rate
        self.total = ms_to_frame(timeline.duration, rate)
        segments = plan.segments if plan else ()
        # Segment k covers [edges[k], edges[k+1]); the first starts at 0, the last ends at the session's end.
        self.bounds = np.array([ms_to_frame(seg.start, rate) for seg in segments[1:]], dtype=np.int64)
        half = ms_to_frame(plan.crossfade, rate) // 2 if plan else 0
        edges = [0, *self.bounds.tolist(), self.total]
        # Each boundary's ramp is at most half as long as the shorter segment beside it: ramps never overlap.
        self.halves = np.array([max(1, min(half, (edges[k + 1] - edges[k]) // 2, (edges[k + 2] - edges[k + 1]) // 2))
                                for k in range(len(self.bounds))], dtype=np.int64)
        self.sources: list[_Source] = []
        found: dict[str, int] = {}
        for k, seg in enumerate(segments):
            for spec in seg.layers:
                key = json.dumps({n: v for n, v in spec.as_dict().items() if n not in ("level", "line")}, sort_keys=True)
                if key not in found:
                    found[key] = len(self.sources)
                    layer = self._make(spec, len(self.sources), file)
                    self.sources.append(_Source(layer, np.zeros(len(segments))))
                source = self.sources[found[key]]
                source.amps[k] = gain_for(spec.level, source.unit_power)  # its level: loudness under the voice
        bells = [e for e in timeline.events if e.kind == "bell"]
        self.bells: list[Bells] = []
        by_voice: dict[tuple[float, float], list[int]] = {}
        for e in bells:
            by_voice.setdefault((float(e.get("level", DEFAULT_LEVEL_DB["bells"])), float(e.get("freq", BELL_FREQ_HZ))),
                                []).append(e.start)
        for (level, freq), starts in sorted(by_voice.items()):
            unit = Bells(rate, starts, 0.0, freq=freq).k_power()
            peak_db = min(0.0, 20 * float(np.log10(gain_for(level, unit))))  # centred: its power is kept
            self.bells.append(Bells(rate, starts, peak_db, freq=freq))
        self.fade_in = ms_to_frame(plan.fade_in, rate) if plan else 0
        self.fade_out = ms_to_frame(plan.fade_out, rate) if plan else 0
        self.duck_db = plan.duck if plan else 0.0
        speech = timeline.speech()
        merged: list[list[int]] = []
        for e in speech:
            if merged and e.start - merged[-1][1] < DUCK_HOLD_MS:
                merged[-1][1] = max(merged[-1][1], e.end)
            else:
                merged.append([e.start, e.end])
        self.duck_starts = [ms_to_frame(s, rate) for s, _ in merged]
        self.duck_ends = [ms_to_frame(e, rate) for _, e in merged]
        self.attack = ms_to_frame(DUCK_ATTACK_MS, rate)
        self.release = ms_to_frame(DUCK_RELEASE_MS, rate)
        self.guard = min(ms_to_frame(END_GUARD_MS, rate), self.total)
        self.channels = 2  # a bed is always stereo: noise and drones are wide

    def __bool__(self) -> bool:
        return bool(self.sources or self.bells)

    def _make(self, layer: LayerSpec, index: int, file: str) -> Any:
        kind, rate, spec = layer.kind, self.rate, dict(layer.params)
        if kind == "drone":
            return Drone(rate, spec["freq"], 0.0, stereo=True)
        if kind == "binaural":
            return Binaural(rate, spec["carrier"], spec["beat"], 0.0)
        if kind == "isochronic":
            return Isochronic(rate, spec["freq"], spec["rate"], 0.0)
        if kind == "noise":
            return Noise(rate, spec["color"], 0.0, seed=index, stereo=True)
        if kind == "music":
            from legsup_audio.render.bed.music import Music

            try:
                return Music(rate, spec["file"], 0.0, loop=bool(spec.get("loop", True)))
            except ValueError as exc:
                raise ScriptError([Problem(file, layer.line, 1, str(exc))]) from None
        raise ValueError(f"unknown background layer {kind!r}")  # the parser admits no other

    # --- gains -------------------------------------------------------------------------------

    def envelope(self, source: _Source, t: np.ndarray) -> np.ndarray:
        """The source's gain at frames ``t`` (sorted: a block's frames)."""
        amps = source.amps
        if len(amps) == 1:
            return np.full(t.shape, amps[0])
        reach = int(self.halves.max())
        lo = int(np.searchsorted(self.bounds, t[0] - reach, side="left"))
        hi = int(np.searchsorted(self.bounds, t[-1] + reach, side="right"))
        if lo >= hi:  # no boundary near this block: one level throughout
            return np.full(t.shape, amps[int(np.searchsorted(self.bounds, t[0], side="right"))])
        env = amps[np.searchsorted(self.bounds, t, side="right")]
        for j in range(lo, hi):
            a, b = amps[j], amps[j + 1]
            if a == b:
                continue
            h = int(self.halves[j])
            i0 = int(np.searchsorted(t, self.bounds[j] - h))
            i1 = int(np.searchsorted(t, self.bounds[j] + h))
            if i0 >= i1:
                continue
            u = (t[i0:i1] - (self.bounds[j] - h) + 0.5) / (2 * h)
            if a == 0:
                env[i0:i1] = b * np.sin(0.5 * np.pi * u)
            elif b == 0:
                env[i0:i1] = a * np.cos(0.5 * np.pi * u)
            else:  # the same source at another level: a straight ramp keeps it smooth
                env[i0:i1] = a + (b - a) * u
        return env

    def fades(self, t: np.ndarray) -> np.ndarray:
        """The session's fade-in and fade-out."""
        g = np.ones(t.shape)
        if self.fade_in > 0 and t[0] < self.fade_in:
            g *= _raised((t + 0.5) / self.fade_in)
        if self.fade_out > 0 and t[-1] >= self.total - self.fade_out:
            g *= _raised((self.total - t - 0.5) / self.fade_out)
        return g

    def duck(self, t: np.ndarray) -> np.ndarray | None:
        """The ducking gain at frames ``t`` (sorted): 1 away from speech, ``-duck`` dB under it.

        The ramps are raised cosines in dB.  None when every frame is away from speech.
        Dips are at least ``DUCK_HOLD_MS`` apart, longer than a ramp down and up, so
        their ramps never overlap.  Only frames inside a dip pay for the exponential.
        """
        if self.duck_db <= 0 or not self.duck_starts:
            return None
        first = bisect.bisect_right(self.duck_ends, int(t[0]) - self.release)
        last = bisect.bisect_left(self.duck_starts, int(t[-1]) + 1 + self.attack)
        if first >= last:
            return None
        gain = np.ones(t.shape)
        per_unit = -self.duck_db / 20 * np.log(10.0)
        for i in range(first, last):
            s, e = self.duck_starts[i], self.duck_ends[i]
            a0, a1, r0, r1 = np.searchsorted(t, [s - self.attack, s, e, e + self.release])
            gain[a0:a1] = np.exp(per_unit * _raised((t[a0:a1] - (s - self.attack) + 0.5) / self.attack))
            gain[a1:r0] = np.exp(per_unit)
            gain[r0:r1] = np.exp(per_unit * _raised(1.0 - (t[r0:r1] - e + 0.5) / self.release))
        return gain

    def end_guard(self, t: np.ndarray) -> np.ndarray | None:
        if self.guard <= 0 or t[-1] < self.total - self.guard:
            return None
        return _raised((self.total - t - 0.5) / self.guard)

    # --- samples -----------------------------------------------------------------------------

    def render(self, start: int, n: int) -> np.ndarray:
        out = np.zeros((n, self.channels), dtype=np.float32)
        if n <= 0:
            return out
        t = np.arange(start, start + n, dtype=np.int64)
        shared: np.ndarray | None = None
        for source in self.sources:
            env = self.envelope(source, t)
            if not env.any():
                continue
            if shared is None:
                shared = self.fades(t)
                ducked = self.duck(t)
                if ducked is not None:
                    shared *= ducked
            gain = (env * shared).astype(np.float32)[:, None]
            if source.layer.channels == 1:
                gain *= np.float32(CENTRE)  # a mono layer is centred, at equal power
            out += source.layer.render(start, n) * gain
        if self.bells:
            for bells in self.bells:
                out += bells.render(start, n) * np.float32(CENTRE)
        guard = self.end_guard(t)
        if guard is not None:
            out *= guard.astype(np.float32)[:, None]
        return out


def lookback_ms(plan: BedPlan | None) -> tuple[int, int]:
    """How far before a change in the timeline the bed's samples may change, in ms: (before the
    first step boundary, bell or spoken cue that differs, before the session's end).

    A boundary's ramp is centred on it and at most ``crossfade`` long, but capped at half the
    steps beside it, so a boundary that moves can also change the ramp of the one before it
    (three half crossfades); a dip under the voice starts ``DUCK_ATTACK_MS`` before its cue.
    Before the end: the fade-out, the end guard, and the last boundary's ramp (capped by the
    last segment, which ends with the session).  Bells and tones start at their events.
    ``legsup play`` uses it to know how much of a session still being spoken is final.
    """
    if plan is None:
        return 0, 0
    ramps = 3 * (plan.crossfade // 2 + 1)
    return max(ramps, DUCK_ATTACK_MS + 1), max(plan.fade_out + 1, END_GUARD_MS + 1, ramps)


def bed_track(timeline: Timeline, rate: int, file: str = "") -> BedTrack | None:
    """The timeline's bed, or None when it has none."""
    if timeline.get("background") is None and not any(e.kind == "bell" for e in timeline.events):
        return None
    track = BedTrack(timeline, rate, file)
    return track if track else None


__all__ = ["BedTrack", "bed_track", "lookback_ms", "DUCK_ATTACK_MS", "DUCK_RELEASE_MS", "DUCK_HOLD_MS"]
