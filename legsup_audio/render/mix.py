"""Render stage: a Timeline and its clips to PCM blocks, in one linear pass.

Owns placing every speech clip at its event's first sample and summing the
layers of the mix.  It works on demand for any frame range (``render(start, n)``)
and holds only the clips it is currently placing, so memory does not grow with
session length and the same range always renders to the same samples (the
master and the player rely on that).  It never overlays onto a whole track, and
it does not set loudness: that is ``master``'s job.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from math import gcd
from typing import Protocol, runtime_checkable

import numpy as np

from legsup_audio.render.levels import Profile
from legsup_audio.speech.cache import MIX_GAIN, ClipRef
from legsup_audio.compile.timeline import Timeline
from legsup_audio.units import SAMPLE_RATE, ms_to_frame

BLOCK_FRAMES = SAMPLE_RATE  # one second: large enough for numpy, small enough to stream
CLIP_MEMORY = 8  # clips kept resampled at once; events never overlap, so few are live


def overlapping(starts: Sequence[int], ends: Sequence[int], start: int, end: int) -> range:
    """Indices of the spans [starts[i], ends[i]) that meet frames [start, end).

    The spans must not overlap one another, so that both lists are sorted.
    """
    return range(bisect.bisect_right(ends, start), bisect.bisect_left(starts, end))


@runtime_checkable
class Layer(Protocol):
    """Something that contributes samples to the mix (the voice, the guide tones, the bed,
    each of the bed's generators): any block, in any order, as a pure function of its
    arguments, at its level."""

    channels: int

    def render(self, start: int, n: int) -> np.ndarray:
        """float32, shape (n, channels): frames [start, start + n)."""
        ...


@runtime_checkable
class Described(Layer, Protocol):
    """A layer that can describe its own loudness without being rendered (see ``levels``)."""

    def profile(self, step: int, count: int) -> Profile | None:
        """Per ``step`` frames, ``count`` steps: K-weighted energy and a true-peak bound; None
        when it cannot (then the master renders and measures it)."""
        ...


@runtime_checkable
class PcmSource(Protocol):
    """Final, mastered session audio that encoders and players read at any frame."""

    rate: int
    channels: int
    total: int  # frames

    def read(self, start: int, n: int) -> np.ndarray:
        """``n`` frames from ``start``: int16, shape ``(n, channels)``."""
        ...


class VoiceTrack:
    """The spoken cues: each clip placed at its event's start."""

    channels = 1

    def __init__(self, timeline: Timeline, clips: Mapping[str, ClipRef], rate: int = SAMPLE_RATE) -> None:
        speech = timeline.speech()
        self.rate = rate
        self._start_ms = [e.start for e in speech]
        self._starts = [ms_to_frame(e.start, rate) for e in speech]
        self._texts = [e.text or "" for e in speech]
        self._ends = [s + self._resampled_length(clips[t]) for s, t in zip(self._starts, self._texts)]
        self._refs = clips
        self._live: OrderedDict[str, np.ndarray] = OrderedDict()

    def _resampled_length(self, ref: ClipRef) -> int:
        up, down = self._ratio(ref.rate)
        return -(-ref.frames * up // down)

    def _ratio(self, clip_rate: int) -> tuple[int, int]:
        g = gcd(self.rate, clip_rate)
        return self.rate // g, clip_rate // g

    def _clip(self, text: str) -> np.ndarray:
        samples = self._live.get(text)
        if samples is None:
            clip = self._refs[text].load()
            up, down = self._ratio(clip.rate)
            samples = clip.samples.astype(np.float32) * np.float32(MIX_GAIN / 32768.0)  # stored with headroom
            if (up, down) != (1, 1):
                from scipy.signal import resample_poly

                samples = resample_poly(samples, up, down).astype(np.float32)
            self._live[text] = samples
            if len(self._live) > CLIP_MEMORY:
                self._live.popitem(last=False)
        else:
            self._live.move_to_end(text)
        return samples

    def energies(self, step: int, count: int) -> np.ndarray:
        """K-weighted energy per ``step`` frames (a multiple of 1 ms), without rendering.

        Each clip's energy per millisecond is measured once and kept in the clip
        cache; here it is only added up where the clip is placed.  Clips are
        separated by silence, so this matches filtering the whole track (to
        within the part of a frame where a millisecond edge falls).
        """
        out = np.zeros(count)
        per_ms = step * 1000 // self.rate
        for start_ms, text in zip(self._start_ms, self._texts):
            energy = self._refs[text].stats().energy_ms * MIX_GAIN**2  # stored with headroom
            slots = (start_ms + np.arange(energy.shape[0])) // per_ms
            keep = slots < count
            if keep.any():
                first = int(slots[0])
                sums = np.bincount(slots[keep] - first, weights=energy[keep])
                out[first : first + sums.shape[0]] += sums
        return out

    def identity(self) -> str:
        """Which clips are placed (by checksum): with the timeline, all that fixes this track's samples."""
        return "|".join(f"{ref.path.name}:{ref.crc}:{ref.frames}:{ref.rate}"
                        for ref in (self._refs[t] for t in dict.fromkeys(self._texts)))

    def profile(self, step: int, count: int) -> Profile:
        """Per-step energy (from the clips' stored energies) and true peak (from their samples)."""
        peaks = np.zeros(count)
        factors: dict[str, float] = {}
        for at, end, text in zip(self._starts, self._ends, self._texts):
            k0, k1 = at // step, min(count, -(-end // step))
            if k0 >= k1:
                continue
            clip = np.abs(self._clip(text))
            if text not in factors:  # the clip's true peak over its sample peak: how far between-sample peaks reach
                factors[text] = max(1.0, self._refs[text].stats().true_peak * MIX_GAIN / max(float(clip.max()), 1e-12))
            starts = np.maximum(np.arange(k0, k1) * step - at, 0)
            peaks[k0:k1] = np.maximum(peaks[k0:k1], np.maximum.reduceat(clip, starts) * factors[text])
        return Profile(self.energies(step, count), peaks)

    def render(self, start: int, n: int) -> np.ndarray:
        out = np.zeros((n, 1), dtype=np.float32)
        end = start + n
        for i in overlapping(self._starts, self._ends, start, end):  # speech events never overlap
            clip = self._clip(self._texts[i])
            at = self._starts[i]
            lo, hi = max(start, at), min(end, at + clip.shape[0])
            if lo < hi:
                out[lo - start : hi - start, 0] += clip[lo - at : hi - at]
        return out


class Mix:
    """The sum of the session's layers, for any frame range."""

    def __init__(self, timeline: Timeline, layers: Sequence[Layer], rate: int = SAMPLE_RATE) -> None:
        self.timeline = timeline
        self.rate = rate
        self.layers = list(layers)
        self.channels = max((layer.channels for layer in self.layers), default=1)
        self.total = ms_to_frame(timeline.duration, rate)

    def render(self, start: int, n: int) -> np.ndarray:
        """float32, shape (n, channels); frames past the end are silence."""
        out = np.zeros((n, self.channels), dtype=np.float32)
        n_in = max(0, min(n, self.total - start))
        if n_in <= 0:
            return out
        for layer in self.layers:
            block = layer.render(start, n_in)
            out[:n_in] += block if block.shape[1] == self.channels else np.repeat(block, self.channels, axis=1)
        return out

    def blocks(self, block: int = BLOCK_FRAMES):
        """(start, samples) over the whole session, in order."""
        for start in range(0, self.total, block):
            yield start, self.render(start, min(block, self.total - start))
