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

from legsup_audio.speech.cache import MIX_GAIN, ClipRef
from legsup_audio.compile.timeline import Timeline
from legsup_audio.units import SAMPLE_RATE, ms_to_frame

#: A mono layer in a stereo mix is spread at this gain per channel (equal power, -3 dB),
#: so its loudness is the same in a stereo mix as alone in a mono one.
CENTRE = float(np.sqrt(0.5))
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
    """The sum of the session's layers, for any frame range.

    Stereo when any layer is (a session with a bed), else mono.  A mono layer (the
    voice, the guide tones) is centred in a stereo mix at -3 dB per channel, so its
    loudness (BS.1770 sums the channels' power) is the same as in a mono mix: the
    voice keeps its -16 LUFS in both.
    """

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
            if block.shape[1] != self.channels:  # a mono layer in a stereo mix: centred at equal power
                block = block * np.float32(CENTRE)
            out[:n_in] += block
        return out

    def blocks(self, block: int = BLOCK_FRAMES):
        """(start, samples) over the whole session, in order."""
        for start in range(0, self.total, block):
            yield start, self.render(start, min(block, self.total - start))
