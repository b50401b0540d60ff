"""Master stage: the mix to -16 LUFS with true peak kept under the ceiling.

Owns turning the float mix into the final 16-bit samples: the session's
integrated loudness is planned from each layer's profile (``levels``), one gain
brings it to the target, and a look-ahead limiter acts only where the gained
signal would pass the true-peak ceiling.  The speech stage levels every clip, so
for a voice alone the limiter is a safety net; when a bed makes the gain press
the voice into it, the ``LimiterModel`` (built from the loud steps, rendered
once) says what the limiter does to the loudness and the gain is corrected on
it.  Everything is a pure function of the frame range, so the exporter and the
player get identical samples for the same time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from legsup_audio.render import forked
from legsup_audio.render.analysis import AnalysisStore
from legsup_audio.dsp import (
    HOT,
    KWeighting,
    LoudnessMeter,
    db,
    integrated,
    limiter_gain,
    running_mean,
    running_min,
    runs,
)
from legsup_audio.render.levels import Profile, measure_layer
from legsup_audio.render.mix import BLOCK_FRAMES, Described, Mix

TARGET_LUFS = -16.0
#: The limiter's ceiling.  The product promises -1 dBTP in the exported file; MP3
#: encoding of the (clip-limited) neural voice overshoots by a few tenths of a dB,
#: so the PCM is held a dB lower.  The speak stage limits each clip so that at
#: the target gain it already stays under this (``speaker.VOICE_PEAK_DBTP``).
CEILING_DBTP = -2.0
LIMITER_WINDOW_S = 0.010  # gain changes are spread over 10 ms: fast, but no clicks
#: After a peak the limiter's gain is held this long before it recovers, so it never
#: follows the voice's pitch (a period is 4-10 ms) and shapes no waveform, only levels.
LIMITER_HOLD_S = 0.080
GAIN_PASSES = 8  # at most this many gains tried to correct for the limiter (each is cheap: see LimiterModel)
GAIN_TOLERANCE_LU = 0.05
#: Measuring where the limiter acts starts this many 100 ms steps early (the K-weighting
#: filters forget their start from rest in well under 200 ms).
PREROLL_STEPS = 2
#: The limiter model's resolution in frames (3.3 ms at 44.1 kHz; a 100 ms step is 30 bins).
MODEL_BIN = 147
#: How far over the ceiling a bed-only step's peak bound may go before it is measured (6 dB).
BED_BOUND_SLACK = 2.0
#: On its first look the model also measures the steps a gain this much higher (3 dB) would limit.
LOOK_AHEAD = 10 ** (3 / 20)
#: The model shares rendering with a forked child when there is at least this much (s of audio).
FORK_MIN_S = 60
#: Extra time the child may take beyond this process's own share before its share is redone here.
FORK_GRACE_S = 5.0
#: The most the limiter may take off the loudest peaks to reach the target.  Dense
#: speech never needs it; sparse speech over a steady bed does (BS.1770's gate then
#: counts the bed, so the voice must be pressed up to -16 LUFS): 12 dB reaches the
#: target for 18% speech over a -36 dB drone, beyond that the file is left quieter.
MAX_LIMITING_DB = 12.0


def limiter_hold(rate: int) -> int:
    """How long the limiter holds its gain after a peak, in frames."""
    return int(rate * LIMITER_HOLD_S)


def limiter_window(rate: int) -> int:
    """The limiter's window in frames: the master's model must use the one the limiter uses."""
    return max(1, int(rate * LIMITER_WINDOW_S))


@dataclass(frozen=True, slots=True)
class Loudness:
    integrated: float  # LUFS; -inf for silence
    peak: float  # dBFS: the sample peak (measured), or a bound on the true peak (planned)


class FloatSource(Protocol):
    rate: int
    channels: int
    total: int

    def render(self, start: int, n: int) -> np.ndarray: ...


def profiles(mix: Mix, block: int = BLOCK_FRAMES) -> list[Profile]:
    """Per layer of the mix, per 100 ms step: K-weighted energy and a true-peak bound.

    Each layer that can describe its own levels does so (see ``levels``); any
    other is rendered and measured.  Mono layers count on every channel of the mix.
    """
    step = mix.rate // 10
    count = mix.total // step
    found = []
    for layer in mix.layers:
        described = layer.profile(step, count) if isinstance(layer, Described) else None
        if described is None:
            described = measure_layer(layer, mix.rate, mix.total, step, layer.channels, block)
        found.append(described.spread(mix.channels // layer.channels))
    return found


def _total(parts: list[Profile], count: int) -> Profile:
    total = Profile.zeros(count)
    for part in parts:
        total += part
    return total


def plan(mix: Mix, block: int = BLOCK_FRAMES) -> Loudness:
    """The mix's loudness and a bound on its true peak; the layers are independent, so energies add."""
    return _loudness(_total(profiles(mix, block), mix.total // (mix.rate // 10)), mix.rate // 10)


def _loudness(planned: Profile, step: int) -> Loudness:
    return Loudness(integrated(planned.energies, step), db(float(planned.peaks.max(initial=0.0))))


class LimiterModel:
    """What the limiter would do to the mix at any gain, from one look at the loud steps.

    The loudness a gain gives is the planned energy of every step at that gain,
    except where the limiter acts.  Those steps are rendered once, at unit gain,
    and kept as short bins (``MODEL_BIN`` frames): each bin's sample peak and
    K-weighted energy (the between-sample peaks that the real limiter also sees
    add tenths of a dB on a few peaks: measured, the estimate stays within
    0.05 LU of the finished session).  The limiter's gain at any mix gain then follows from the
    peaks alone (the same minimum-then-mean shape as ``dsp.limiter_gain``, at bin
    resolution), and the limited energy is that gain squared times the bin's
    energy: the limiter's ramps are slow next to the K-weighting filters.  So
    trying another gain costs no rendering, except for steps that become loud
    enough to matter only at that higher gain.
    """

    def __init__(self, mix: Mix, planned: Profile, ceiling: float, window: int, block: int = BLOCK_FRAMES,
                 bed: Profile | None = None) -> None:
        self.mix = mix
        self.planned = planned
        # Where only the bed sounds, its bound (independent layers' maxima added) runs 3-5 dB
        # over its real peaks, which sit far under a voice's.  Such steps are measured only if
        # even that allowance cannot keep them under the ceiling: were a real bed to touch it
        # elsewhere, a few limited milliseconds move the loudness by far less than 0.01 LU.
        count = planned.energies.shape[0]
        self.bed_only = np.zeros(count, dtype=bool) if bed is None else planned.peaks <= bed.peaks
        self.ceiling = ceiling
        self.step = mix.rate // 10
        self.per_step = self.step // MODEL_BIN
        count = planned.energies.shape[0]
        self.measured = np.zeros(count, dtype=bool)
        # float32: an hour is 1.1 million bins, and these are estimates to a hundredth of a dB
        self.peaks = np.zeros((count, self.per_step), dtype=np.float32)  # sample peak per bin, unit gain
        self.energies = np.zeros((count, self.per_step), dtype=np.float32)  # K-weighted energy per bin, unit gain
        self.hold = (2 * window + 1) // MODEL_BIN | 1  # odd, as the frame filter's 2W+1
        self.smooth = max(1, window // MODEL_BIN)
        if self.hold // 2 + self.smooth >= self.per_step:  # ``loudness`` works on stretches of whole steps
            raise ValueError("the limiter's window must be shorter than a 100 ms step")
        self.block = block
        self.rendered = 0  # frames rendered so far, for tests and benchmarks

    def state(self) -> dict[str, np.ndarray]:
        """What has been measured, to keep (``analysis``)."""
        return {"measured": self.measured, "bin_peaks": self.peaks, "bin_energies": self.energies}

    def restore(self, saved: dict[str, np.ndarray]) -> None:
        """Take what a kept analysis measured (ignored unless it fits this mix)."""
        if all(name in saved for name in ("measured", "bin_peaks", "bin_energies")) and \
                saved["bin_peaks"].shape == self.peaks.shape == saved["bin_energies"].shape:
            self.measured = saved["measured"].astype(bool)
            self.peaks = saved["bin_peaks"].astype(np.float32)
            self.energies = saved["bin_energies"].astype(np.float32)

    def loudness(self, gain_db: float) -> float:
        """Integrated loudness of the mix at ``gain_db``, limited at the ceiling."""

        gain = float(10 ** (gain_db / 20))
        hot = self._hot(gain)
        energies = self.planned.energies * (gain * gain)
        if not hot.any():
            return integrated(energies, self.step)
        if not self.measured.any():
            # Limiting makes loudness grow more slowly than gain, so the gains tried next
            # are higher: measure now what they will need, in one pass instead of several.
            self._measure(self._hot(gain * LOOK_AHEAD))
        self._measure(hot & ~self.measured)
        # Only the steps hot at this gain count, whatever else was measured before (by an
        # earlier gain, or an earlier run): the answer must not depend on that history.
        # Elsewhere the limiter does nothing, and its ramps (a few bins) never cross a
        # whole step: so each stretch of hot steps is worked out on its own, between one
        # untouched step either side, and memory stays that of the longest stretch.
        for k0, k1 in runs(hot, gap=1):
            a, b = max(0, k0 - 1), min(hot.shape[0], k1 + 1)
            need = np.minimum(np.float32(1.0), np.float32(self.ceiling / gain) / np.maximum(self.peaks[a:b], 1e-12))
            need[~hot[a:b]] = 1.0
            held = running_min(need.reshape(-1), self.hold)
            limit = running_mean(held, self.smooth).reshape(need.shape)[k0 - a : k1 - a]
            energies[k0:k1] = (np.square(limit) * self.energies[k0:k1]).sum(axis=1) * (gain * gain)
        return integrated(energies, self.step)

    def _hot(self, gain: float) -> np.ndarray:
        """Steps the limiter may touch at ``gain``, and their neighbours (its ramps reach into them)."""
        peaks = self.planned.peaks * gain
        hot = np.where(self.bed_only, peaks > self.ceiling * BED_BOUND_SLACK, peaks > self.ceiling)
        hot[1:] |= hot[:-1].copy()
        hot[:-1] |= hot[1:].copy()
        return hot

    def _measure(self, todo: np.ndarray) -> None:
        """Render and keep the bins of the steps in ``todo``, half of them on the other core."""
        # Stretches closer than two prerolls are rendered as one: the gap costs no more than the prerolls.
        stretches = runs(todo, gap=2 * PREROLL_STEPS + 1)
        frames = sum(k1 - k0 for k0, k1 in stretches) * self.step
        if len(stretches) < 2 or frames < FORK_MIN_S * self.mix.rate or not forked.available():
            for run in stretches:
                self._keep(*self._measure_run(*run))
            return
        # Alternate stretches between the two processes: each gets about half the work.
        theirs, mine = stretches[1::2], stretches[0::2]
        try:
            job = forked.Forked(lambda: [self._measure_run(*run) for run in theirs])
        except OSError:  # no process or pipe to spare: do it all here
            job = None
        found = None
        if job is not None:
            with job:
                started = time.monotonic()
                for run in mine:
                    self._keep(*self._measure_run(*run))
                # The child has as much to do as this process had: give it that long again, and more.
                found = job.result(timeout=FORK_GRACE_S + 3 * (time.monotonic() - started))
        else:
            for run in mine:
                self._keep(*self._measure_run(*run))
        for result in found if found is not None else [self._measure_run(*run) for run in theirs]:
            self._keep(*result)

    def _keep(self, k0: int, k1: int, energies: np.ndarray, peaks: np.ndarray) -> None:
        self.energies[k0:k1], self.peaks[k0:k1] = energies, peaks
        self.measured[k0:k1] = True
        self.rendered += (k1 - k0) * self.step

    def _measure_run(self, k0: int, k1: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        """Bins of steps [k0, k1): K-weighted energy and sample peak, rendered from a little earlier."""
        step = self.step
        first = max(0, k0 - PREROLL_STEPS)
        weighting = KWeighting(self.mix.rate, self.mix.channels)
        energies, peaks = [], []
        for start in range(first * step, k1 * step, self.block):
            x = self.mix.render(start, min(self.block, k1 * step - start))
            energies.append(weighting.squares(x).reshape(-1, self.per_step, MODEL_BIN).sum(axis=2))
            peaks.append(np.abs(x).max(axis=1).reshape(-1, self.per_step, MODEL_BIN).max(axis=2))
        skip = k0 - first
        return k0, k1, np.concatenate(energies)[skip:], np.concatenate(peaks)[skip:]


def measure(source: FloatSource, block: int = BLOCK_FRAMES) -> Loudness:
    """Integrated loudness and sample peak of every frame of ``source``."""
    meter = LoudnessMeter(source.rate, source.channels)
    for start in range(0, source.total, block):
        meter.feed(source.render(start, min(block, source.total - start)))
    return Loudness(meter.integrated(), db(meter.peak))


class Mastered:
    """The finished session as 16-bit PCM: a ``PcmSource`` for encoders and players."""

    def __init__(
        self,
        mix: Mix,
        gain_db: float,
        ceiling_dbtp: float = CEILING_DBTP,
        limit: bool = True,
        expected_lufs: float | None = None,
    ) -> None:
        self.mix = mix
        self.expected_lufs = expected_lufs  # the loudness this source is known or planned to have
        self.limit = limit  # False when the gained mix provably stays under the ceiling
        self.rate = mix.rate
        self.channels = mix.channels
        self.total = mix.total
        self.gain_db = gain_db
        self.gain = float(10 ** (gain_db / 20))
        self.ceiling = float(10 ** (ceiling_dbtp / 20))
        self.window = limiter_window(self.rate)
        self.hold = limiter_hold(self.rate)
        # Context either side so the limiter sees the same neighbourhood whatever the block.
        self.margin = self.hold + 2 * self.window + 64
        self._meter = LoudnessMeter(self.rate, self.channels)
        self._metered = 0  # frames fed to the meter: reads in order from the start are measured

    def measured(self) -> Loudness | None:
        """Integrated loudness and sample peak of what was read, once every frame was read in order."""
        if self._metered < self.total:
            return None
        return Loudness(self._meter.integrated(), db(self._meter.peak))

    def render(self, start: int, n: int) -> np.ndarray:
        """float32, shape (n, channels): the gained and limited frames [start, start + n)."""
        a = max(0, start - self.margin)
        b = min(self.total, start + n + self.margin)
        out = np.zeros((n, self.channels), dtype=np.float32)
        if b <= a:
            return out
        x = self.mix.render(a, b - a)
        x *= np.float32(self.gain)
        if self.limit and float(np.abs(x).max()) > self.ceiling * HOT:
            x *= limiter_gain(x, self.ceiling, self.window, self.hold)[:, None]
        piece = x[start - a : start - a + n]
        out[: piece.shape[0]] = piece
        return out

    def read(self, start: int, n: int) -> np.ndarray:
        """int16, shape (n, channels): frames [start, start + n) of the finished session."""
        x = self.render(start, n)
        if start == self._metered and start < self.total:
            self._meter.feed(x[: self.total - start])
            self._metered = min(self.total, start + n)
        return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)


def master(mix: Mix, target_lufs: float = TARGET_LUFS, store: AnalysisStore | None = None) -> tuple[Mastered, Loudness]:
    """The mix with the voice at ``target_lufs`` while it speaks, peaks held under the ceiling.

    Voice-anchored loudness (the dialogue anchoring of ATSC A/85 and EBU R128):
    the speak stage levels every clip to ``VOICE_LUFS``, so one known gain puts
    the voice at the target, and every other layer keeps its level relative to
    the voice.  No analysis of the mix is needed; the file's integrated loudness
    is whatever the content makes it, measured as it is written
    (``Mastered.measured``).  ``store`` is accepted for callers of the old
    analysing master and unused.
    """
    from legsup_audio.speech.speaker import VOICE_LUFS

    del store
    gain_db = target_lufs - VOICE_LUFS
    return Mastered(mix, gain_db), Loudness(VOICE_LUFS, float("nan"))


def _restorable(saved: dict[str, np.ndarray], count: int) -> bool:
    shapes = {"energies": (count,), "peaks": (count,), "bed_energies": (count,), "bed_peaks": (count,),
              "measured": (count,)}
    return all(name in saved and saved[name].shape == shape for name, shape in shapes.items())


def _decide(mix: Mix, target_lufs: float, planned: Profile, model: LimiterModel) -> tuple[Mastered, Loudness]:
    """The gain (and whether to limit) that brings ``planned`` to the target."""
    loudness = _loudness(planned, mix.rate // 10)
    if not np.isfinite(loudness.integrated):
        return Mastered(mix, 0.0, limit=False, expected_lufs=loudness.integrated), loudness
    wanted = target_lufs - loudness.integrated
    safe = CEILING_DBTP - loudness.peak  # the gain at which the highest peak meets the ceiling
    if wanted <= safe:
        # The common case: the speech stage levelled every clip, so a plain gain suffices.
        return Mastered(mix, wanted, limit=False, expected_lufs=target_lufs), loudness
    cap = safe + MAX_LIMITING_DB
    result = Mastered(mix, min(wanted, cap))
    # Loudness grows more slowly than the gain once the limiter bites: step along
    # the measured slope (secant method) instead of assuming one dB per dB.
    gain, level, slope = result.gain_db, target_lufs, 1.0
    for _ in range(GAIN_PASSES):
        result.expected_lufs = model.loudness(result.gain_db)
        measured = result.expected_lufs
        if abs(target_lufs - measured) <= GAIN_TOLERANCE_LU or (result.gain_db >= cap and measured < target_lufs):
            break
        if result.gain_db != gain:
            slope = min(1.0, max(0.2, (measured - level) / (result.gain_db - gain)))
        gain, level = result.gain_db, measured
        result = Mastered(mix, min(cap, gain + (target_lufs - measured) / slope))
    else:
        result.expected_lufs = model.loudness(result.gain_db)
    return result, loudness
