"""Synthesised background layers: noise and bells, and what every bed layer shares.

This module owns the sound of the bed's noise and bells (the tonal layers are in
``periodic``) and the checks and helpers every layer uses: each
layer is an object whose ``render(start, n)`` returns samples ``[start, start+n)``
as a float32 array of shape ``(n, channels)`` at the layer's sample rate, already
scaled to the layer's level.  ``render`` is a pure function of ``(start, n)`` (random
access, any block size, any order, exact at any hour), costs time proportional to
``n`` only, and keeps no state that grows with the session.  Levels are dB relative
to full scale (a sample value of 1.0) and mean the layer's long-run RMS over all
its channels, so a ``-30`` dB drone measures -30 dBFS RMS; bells are the exception:
their level is each strike's sample peak.  Timelines, fades, ducking and mixing
belong to the renderer, not here.

Noise is genuinely random and never repeats: white noise is drawn in
fixed chunks seeded from ``(seed, chunk index)``; pink and brown colour each chunk
with a recursive filter started from rest on the tail of the previous chunk, long
enough for the filter to forget the rest state, so chunk seams are inaudible.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from operator import index
from typing import Literal

import numpy as np

from legsup_audio.dsp import serial_matmul
from legsup_audio.render.levels import filter_power, strike_power
from legsup_audio.script.blocks.pitch import check_freq
from legsup_audio.units import ms_to_frame

NOISE_CHUNK = 1 << 16
"""Noise is generated in chunks of this many samples, each seeded from its index."""

STEREO_OFFSET = 5 * NOISE_CHUNK + NOISE_CHUNK // 3
"""How far ahead in the noise a stereo noise's right channel reads (about 8 s at 44.1 kHz)."""

NOISE_WARMUP = 1 << 12
"""Samples of the previous chunk that a colouring filter runs over before a chunk."""

BROWN_CORNER_HZ = 20.0
"""Below this frequency brown noise stops rising (a leaky integrator, no DC drift)."""

BELL_PARTIALS: tuple[tuple[float, float, float, float], ...] = (
    # (frequency ratio, relative amplitude, decay time constant s, beating Hz)
    (1.00, 1.00, 3.0, 0.6),
    (2.76, 0.60, 2.2, 1.1),
    (5.40, 0.32, 1.4, 1.7),
    (8.93, 0.16, 0.9, 2.3),
    (13.34, 0.08, 0.6, 3.1),
)
"""A singing bowl: inharmonic partials, each a slowly beating pair, decaying."""

BELL_FREQ_HZ = 220.0
"""Default fundamental of the bell."""

BELL_ATTACK_S = 0.005
"""Raised-cosine attack of a strike (a soft mallet, no click)."""

BELL_SECONDS = 24.0
"""Length of one strike; by then the fundamental is 70 dB down, and it fades out."""


def db_to_amplitude(level_db: float) -> float:
    """The linear amplitude of a level in dB relative to full scale."""
    return float(10.0 ** (level_db / 20.0))


def check_level(level_db: float) -> float:
    """``level_db`` as a float; ``ValueError`` unless it is finite and at most 0 dB."""
    level = float(level_db)
    if not math.isfinite(level) or level > 0.0:
        raise ValueError(f"level must be at most 0 dB (relative to full scale), not {level_db}")
    return level


def check_block(start: int, n: int) -> tuple[int, int]:
    """``(start, n)`` as ints; ``ValueError`` if either is negative."""
    start, n = index(start), index(n)
    if start < 0 or n < 0:
        raise ValueError(f"cannot render a block at {start} of {n} samples: both must be >= 0")
    return start, n


def check_rate(rate: int) -> int:
    rate = index(rate)
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, not {rate}")
    return rate


def read_periodic(table: np.ndarray, start: int, n: int) -> np.ndarray:
    """Samples ``[start, start+n)`` of the signal that repeats ``table`` forever."""
    period = table.shape[0]
    out = np.empty((n,) + table.shape[1:], dtype=np.float32)
    pos, done = start % period, 0
    while done < n:
        take = min(n - done, period - pos)
        out[done : done + take] = table[pos : pos + take]
        done += take
        pos = 0
    return out


# --- noise -------------------------------------------------------------------------

class OnePoleBank:
    """A recursive filter ``direct + sum(r / (1 - p z^-1))`` with real poles ``p``.

    ``apply`` filters from rest, blockwise: inside blocks of ``block`` samples by a
    matrix product with the impulse response, across blocks by a short recursion on
    the block-end states; equal to ``scipy.signal.lfilter`` to float32 precision and
    faster (1.5-3x on a 2-core machine), because most of the work runs in BLAS
    instead of one sample at a time.
    """

    block = 16  # fastest here: a 16x16 product beats 8 (more recursion) and 32 (more work)

    def __init__(self, direct: float, residues: Sequence[float] | np.ndarray, poles: Sequence[float] | np.ndarray) -> None:
        self.direct = float(direct)
        self.residues = np.asarray(residues, dtype=np.float64)
        self.poles = np.asarray(poles, dtype=np.float64)
        j = np.arange(self.block)
        h = np.zeros(self.block)
        h[0] = self.direct
        h += (self.residues[:, None] * self.poles[:, None] ** j).sum(axis=0)
        lag = j[None, :] - j[:, None]  # column minus row
        self._within = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0).astype(np.float32)
        self._to_state = (self.poles[None, :] ** (self.block - 1 - j[:, None])).astype(np.float32)
        self._from_state = (self.residues[:, None] * self.poles[:, None] ** (j + 1)).astype(np.float32)

    @classmethod
    def from_tf(cls, b: Sequence[float], a: Sequence[float]) -> OnePoleBank:
        """The bank equal to ``lfilter(b, a)`` (its poles must be real and distinct)."""
        from scipy import signal  # slow to import: only for filters not written out below

        r, p, k = signal.residuez(b, a)
        if np.abs(np.imag(p)).max(initial=0.0) > 1e-12:
            raise ValueError("OnePoleBank needs real poles")
        return cls(float(np.real(k[0])) if len(k) else 0.0, np.real(r), np.real(p))

    def power_gain(self) -> float:
        """Sum of the squared impulse response: output variance per unit input variance."""
        r, p, d = self.residues, self.poles, self.direct
        return float(d * d + 2 * d * r.sum() + (np.outer(r, r) / (1 - np.outer(p, p))).sum())

    def scaled(self, gain: float) -> OnePoleBank:
        """The same filter times ``gain``."""
        return OnePoleBank(self.direct * gain, self.residues * gain, self.poles)

    def _block_ends(self, local: np.ndarray) -> np.ndarray:
        """States at block ends: ``s[m] = c * s[m-1] + local[m]`` for each pole's ``c``.

        A prefix scan (Hillis-Steele) along the blocks: after the pass with stride
        ``k`` each entry holds the sum of its last ``2k`` terms, so log2(blocks)
        whole-array steps replace a loop over the blocks.  Only powers of ``c``
        below 1 appear, so it is as stable as the recursion itself.
        """
        out = local.copy()
        factor = self.poles[None, :, None] ** self.block
        stride = 1
        while stride < out.shape[-1]:
            out[..., stride:] += factor * out[..., :-stride]  # the right side is read before it is written
            factor = factor * factor
            stride *= 2
        return out

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Filter each row of float32 ``x`` (rows, length) from rest; length % 16 == 0."""
        rows, length = x.shape
        nblocks = length // self.block
        blocks = np.ascontiguousarray(x, dtype=np.float32).reshape(rows * nblocks, self.block)
        y = serial_matmul(blocks, self._within)
        if len(self.poles):
            local = serial_matmul(blocks, self._to_state).astype(np.float64).reshape(rows, nblocks, -1)
            ends = self._block_ends(np.moveaxis(local, 2, 1))  # (rows, poles, nblocks)
            state = np.zeros_like(local)  # the state entering each block
            state[:, 1:, :] = np.moveaxis(ends, 1, 2)[:, :-1, :]
            y += serial_matmul(state.reshape(rows * nblocks, -1).astype(np.float32), self._from_state)
        return y.reshape(rows, length)


# Paul Kellet's "economy" pink filter: within 0.05 dB of 1/f from 9 Hz up at 44.1 kHz.
_PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A = (1.0, -2.494956002, 2.017265875, -0.522189400)
# The same filter as one-pole sections: scipy.signal.residuez(_PINK_B, _PINK_A), written
# out so that rendering pink noise never imports scipy.signal (tested to match).
_PINK_RESIDUES = [0.027850334718911043, 0.009478210266844419, 0.004150603199613758]
_PINK_POLES = [0.5559452593713643, 0.9438417737128202, 0.9951689689158147]
_PINK_DIRECT = 0.008442886814630858

_INT16_STD = math.sqrt((65536.0**2 - 1) / 12)  # standard deviation of uniform int16


def noise_filter(color: str, rate: int) -> OnePoleBank:
    """The colouring filter of a noise colour (white: none), before level scaling."""
    if color == "white":
        return OnePoleBank(1.0, [], [])
    if color == "pink":
        return OnePoleBank(_PINK_DIRECT, _PINK_RESIDUES, _PINK_POLES)
    if color == "brown":
        pole = math.exp(-2 * math.pi * BROWN_CORNER_HZ / rate)
        return OnePoleBank(0.0, [1.0 - pole], [pole])
    raise ValueError(f"noise colour must be white, pink or brown, not {color!r}")


@lru_cache(maxsize=8)
def colour_power(color: str, rate: int) -> float:
    """K-weighted power of a noise colour at unit RMS: a constant per colour and rate."""
    bank = noise_filter(color, rate)
    return filter_power(bank.direct, bank.residues, bank.poles, rate)


class Noise:
    """White, pink (-3 dB/octave) or brown (-6 dB/octave) noise that never repeats.

    Mono by default (the renderer spreads it to both speakers); ``stereo=True`` gives
    decorrelated channels, which sound wide: the right channel is the same
    never-repeating noise ``STEREO_OFFSET`` samples (about 8 s) later, independent of
    the left at every moment (the colouring filters forget in well under a second),
    for little more than the cost of one channel.  ``seed`` chooses the noise; the
    same seed always gives the same samples.  ``level_db`` is the RMS level of each
    channel.  A small cache of recent chunks makes sequential rendering cost one
    chunk computation per ``NOISE_CHUNK`` samples.
    """

    _CACHE = 12  # holds both channels' chunks (STEREO_OFFSET apart) in sequential rendering

    def __init__(
        self,
        rate: int,
        color: Literal["white", "pink", "brown"],
        level_db: float,
        seed: int = 0,
        *,
        stereo: bool = False,
    ) -> None:
        self.rate = check_rate(rate)
        self.color = color
        self.level_db = check_level(level_db)
        self.seed = index(seed)
        if self.seed < 0:
            raise ValueError(f"noise seed must be >= 0, not {seed}")
        self.channels = 2 if stereo else 1
        bank = noise_filter(color, self.rate)
        gain = db_to_amplitude(self.level_db) / (_INT16_STD * math.sqrt(bank.power_gain()))
        self._bank = bank.scaled(gain)
        self._gain = np.float32(gain)
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._whites: OrderedDict[int, np.ndarray] = OrderedDict()

    def k_power(self) -> float:
        """K-weighted power of the layer (channels summed), as ``render.levels`` measures a level."""
        return self.channels * db_to_amplitude(self.level_db) ** 2 * colour_power(self.color, self.rate)

    def _remember(self, cache: OrderedDict[int, np.ndarray], k: int, make: Callable[[int], np.ndarray]) -> np.ndarray:
        chunk = cache.get(k)
        if chunk is None:
            chunk = make(k)
            cache[k] = chunk
            while len(cache) > self._CACHE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(k)
        return chunk

    def _white(self, k: int) -> np.ndarray:
        """Raw white chunk ``k`` (k >= -1) in int16 units, float32 (channels, chunk)."""
        bits = np.random.PCG64(np.random.SeedSequence([self.seed, k + 1]))
        raw = bits.random_raw(NOISE_CHUNK // 4).view(np.int16)  # 4 per draw
        return raw.astype(np.float32).reshape(1, NOISE_CHUNK)

    def _coloured(self, k: int) -> np.ndarray:
        """Chunk ``k`` at level, float32 (channels, chunk)."""
        white = self._remember(self._whites, k, self._white)
        if self.color == "white":
            return white * self._gain
        before = self._remember(self._whites, k - 1, self._white)[:, -NOISE_WARMUP:]
        return self._bank.apply(np.concatenate([before, white], axis=1))[:, NOISE_WARMUP:]

    def render(self, start: int, n: int) -> np.ndarray:
        start, n = check_block(start, n)
        out = np.empty((n, self.channels), dtype=np.float32)
        for channel in range(self.channels):
            at = start + channel * STEREO_OFFSET
            pos = at
            while pos < at + n:
                k, offset = divmod(pos, NOISE_CHUNK)
                take = min(NOISE_CHUNK - offset, at + n - pos)
                chunk = self._remember(self._chunks, k, self._coloured)
                out[pos - at : pos - at + take, channel] = chunk[0, offset : offset + take]
                pos += take
        return out


# --- bells ---------------------------------------------------------------------------


@lru_cache(maxsize=4)
def bell_strike(rate: int, freq: float) -> np.ndarray:
    """One singing-bowl strike, float32 mono, sample peak 1.0 (read-only, cached)."""
    length = round(BELL_SECONDS * rate)
    out = np.zeros(length, dtype=np.float64)
    # Each partial is the imaginary part of a decaying phasor; per block of frames it
    # is the phasor at the block's start (computed directly, so no error builds up)
    # times a table of its steps within a block: no sin or exp per sample.
    block = 4096
    k = np.arange(block, dtype=np.float64)
    for ratio, amp, decay, beat in BELL_PARTIALS:
        f = freq * ratio
        if f + beat >= rate / 2:
            continue
        for share, df in ((0.7, -beat / 2), (0.3, beat / 2)):  # a beating pair
            rate_c = complex(-1.0 / decay, 2 * np.pi * (f + df)) / rate  # per frame
            steps = share * amp * np.exp(rate_c * k)
            for start in range(0, length, block):
                n = min(block, length - start)
                phase = 2 * np.pi * ((f + df) * start / rate % 1.0)
                at = np.exp(-start / (decay * rate)) * complex(np.cos(phase), np.sin(phase))
                out[start : start + n] += (at * steps[:n]).imag
    attack = round(BELL_ATTACK_S * rate)
    out[:attack] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    fade = rate  # the last second fades to silence (the tail is 70 dB down by then)
    out[-fade:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    strike = (out / np.abs(out).max()).astype(np.float32)
    strike.flags.writeable = False
    return strike


@lru_cache(maxsize=4)
def strike_loudness_power(rate: int, freq: float) -> float:
    """K-weighted power of the loudest 400 ms of a strike at sample peak 1.0."""
    return strike_power(bell_strike(rate, freq), rate)


class Bells:
    """A singing bowl struck at each time in ``strikes_ms``; silent elsewhere.

    A strike has five inharmonic partials (ratios 1, 2.76, 5.4, 8.93, 13.34), each
    a pair a fraction of a hertz apart so it beats slowly, a 5 ms soft attack and
    an exponential decay (fundamental: 3 s time constant, about 20 dB in 7 s);
    it lasts ``BELL_SECONDS``.  ``level_db`` is the sample peak of one strike
    (overlapping strikes add).  ``freq`` is the fundamental.  Mono.
    """

    channels = 1

    def __init__(self, rate: int, strikes_ms: Sequence[int], level_db: float, *, freq: float = BELL_FREQ_HZ) -> None:
        self.rate = check_rate(rate)
        self.level_db = check_level(level_db)
        self.freq = check_freq("bell frequency", freq, self.rate)
        strikes = [index(ms) for ms in strikes_ms]
        if any(ms < 0 for ms in strikes):
            raise ValueError("bell strike times must be >= 0 ms")
        self.strikes = np.sort(np.array([ms_to_frame(ms, self.rate) for ms in strikes], dtype=np.int64))
        self._amp = np.float32(db_to_amplitude(self.level_db))

    def k_power(self) -> float:
        """K-weighted power of one strike's loudest 400 ms (its momentary loudness), at its level."""
        return float(self._amp) ** 2 * strike_loudness_power(self.rate, self.freq)

    def render(self, start: int, n: int) -> np.ndarray:
        start, n = check_block(start, n)
        out = np.zeros((n, 1), dtype=np.float32)
        if n == 0 or len(self.strikes) == 0:
            return out
        strike = bell_strike(self.rate, self.freq)
        first = int(np.searchsorted(self.strikes, start - len(strike), side="right"))
        last = int(np.searchsorted(self.strikes, start + n, side="left"))
        for at in self.strikes[first:last].tolist():
            lo, hi = max(start, at), min(start + n, at + len(strike))
            out[lo - start : hi - start, 0] += self._amp * strike[lo - at : hi - at]
        return out
