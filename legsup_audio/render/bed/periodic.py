"""The bed's tone layers: drone, binaural beat and isochronic tone, each one exact period.

This module owns the sound of the three tonal layers.  Each is exactly periodic over
``TABLE_SECONDS``: its frequencies are rounded to the nearest multiple of
``1 / TABLE_SECONDS`` Hz (at most 0.017 Hz away, inaudible) and one period is
synthesised once (by one inverse FFT), so rendering is a wrapped copy indexed by the
absolute sample number modulo the period: no phase accumulates, hour 4 is as clean
as second 1.  Levels mean long-run RMS, as for every layer (see ``generators``).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np

from legsup_audio.render.bed.generators import check_block, check_level, check_rate, db_to_amplitude, read_periodic
from legsup_audio.render.levels import k_response, table_power
from legsup_audio.script.blocks.pitch import check_freq, check_pulse_rate

TABLE_SECONDS = 30
"""Period of the tone layers; their frequencies are rounded to multiples of 1/30 Hz."""

DRONE_HARMONICS: tuple[tuple[float, float, float, float], ...] = (
    # (relative amplitude, drift depth, drift rate Hz, phase) of harmonics 1, 2, 3...
    (1.00, 0.12, 0.13, 0.0),
    (0.50, 0.25, 0.21, 1.9),
    (0.28, 0.30, 0.29, 4.1),
    (0.14, 0.35, 0.37, 2.6),
    (0.07, 0.35, 0.17, 5.3),
)
"""The drone's timbre: a fundamental, soft upper harmonics, each drifting slowly."""

DRONE_WIDTH = 1.2
"""Phase turn (radians) between a stereo drone's channels per harmonic above the
fundamental: a little width (left/right correlation about 0.8), the fundamental centred."""

ISOCHRONIC_EDGE = 0.2
"""Length of each raised-cosine edge of an isochronic pulse, as a share of its period."""


def _partials(period: int, bins: Sequence[int], amps: Sequence[float], phases: Sequence[float]) -> np.ndarray:
    """One period of ``sum a*sin(2*pi*bin*i/period + phase)``, by one inverse FFT."""
    spectrum = np.zeros(period // 2 + 1, dtype=np.complex128)
    for b, a, ph in zip(bins, amps, phases):
        if 0 < b < period / 2:
            spectrum[b] += a * period / 2 * np.exp(1j * (ph - np.pi / 2))
    return np.fft.irfft(spectrum, n=period)


def _to_level(table: np.ndarray, level_db: float) -> np.ndarray:
    """``table`` (one exact period) scaled so its RMS is ``level_db``, as float32."""
    rms = float(np.sqrt(np.mean(np.square(table))))
    out = (table * (db_to_amplitude(level_db) / rms)).astype(np.float32)
    out.flags.writeable = False
    return out


_SHARED_TABLES: weakref.WeakValueDictionary[tuple[object, ...], np.ndarray] = weakref.WeakValueDictionary()


class _PeriodicLayer:
    """A layer that is one period of ``TABLE_SECONDS`` repeated; built on first use."""

    channels: int = 1

    def __init__(self, rate: int) -> None:
        self.rate = check_rate(rate)
        self.period = self.rate * TABLE_SECONDS
        self._table: np.ndarray | None = None
        self._k_power: float | None = None

    def _bin(self, freq: float) -> int:
        """The table bin nearest ``freq`` (bins are ``1 / TABLE_SECONDS`` Hz apart)."""
        return max(1, round(freq * TABLE_SECONDS))

    def _key(self) -> tuple[object, ...]:
        raise NotImplementedError

    def _build(self) -> np.ndarray:
        raise NotImplementedError

    def table(self) -> np.ndarray:
        """One period, float32 ``(period, channels)``; shared by equal layers."""
        if self._table is None:
            key = (type(self).__name__, self.rate, *self._key())
            table = _SHARED_TABLES.get(key)
            if table is None:
                table = self._build()
                _SHARED_TABLES[key] = table
            self._table = table
        return self._table

    def lines(self) -> list[tuple[list[int], list[float]]] | None:
        """Per channel, the table's partials (bins, amplitudes) before levelling; None if not known."""
        return None

    def k_power(self) -> float:
        """K-weighted power of the layer (channels summed), exact from its one period.

        From the partials when they are known (Parseval: each partial's power, weighted
        by the K-filter at its frequency, as a share of the whole), else from the
        table's spectrum, a channel at a time.
        """
        if self._k_power is None:
            lines = self.lines()
            if lines is None:
                table = self.table()
                self._k_power = sum(table_power(table[:, [c]], self.rate) for c in range(table.shape[1]))
            else:
                bins = np.concatenate([np.asarray(b, dtype=np.float64) for b, _ in lines])
                power = np.concatenate([np.square(np.asarray(a, dtype=np.float64)) for _, a in lines])
                share = float((power * k_response(bins / TABLE_SECONDS, self.rate)).sum() / power.sum())
                self._k_power = len(lines) * db_to_amplitude(self.level_db) ** 2 * share
        return self._k_power

    def render(self, start: int, n: int) -> np.ndarray:
        start, n = check_block(start, n)
        return read_periodic(self.table(), start, n)


class Drone(_PeriodicLayer):
    """A warm sustained tone: a fundamental, soft harmonics, a slow amplitude drift.

    Each harmonic's amplitude drifts by its own slow sine (0.13-0.37 Hz), so the
    tone breathes instead of sounding like a test tone; the drift is built from
    sidebands, so the whole drone is a sum of fixed sinusoids.  ``level_db`` is the
    RMS level.  Mono, or with ``stereo=True`` a little wide: the upper harmonics and
    their drifts are turned apart between the channels, the fundamental is not.
    """

    def __init__(self, rate: int, freq: float, level_db: float, *, stereo: bool = False) -> None:
        super().__init__(rate)
        self.freq = check_freq("drone frequency", freq, self.rate)
        self.level_db = check_level(level_db)
        self.channels = 2 if stereo else 1

    def _key(self) -> tuple[object, ...]:
        return (self._bin(self.freq), self.level_db, self.channels)

    def lines(self) -> list[tuple[list[int], list[float]]]:
        turns = [0.0] if self.channels == 1 else [-DRONE_WIDTH / 2, DRONE_WIDTH / 2]
        return [self._lines(turn)[:2] for turn in turns]

    def _channel(self, turn: float) -> np.ndarray:
        return _partials(self.period, *self._lines(turn))

    def _lines(self, turn: float) -> tuple[list[int], list[float], list[float]]:
        """One channel's partials; ``turn`` (radians) shifts the upper harmonics' phases and drifts."""
        base = self._bin(self.freq)
        bins: list[int] = []
        amps: list[float] = []
        phases: list[float] = []
        for k, (amp, depth, drift_hz, phase) in enumerate(DRONE_HARMONICS, start=1):
            drift = self._bin(drift_hz)
            if k * base + drift >= self.period // 2:
                break
            h = phase + (k - 1) * turn  # the fundamental stays centred: no bass cancels in mono
            d = phase + (k - 1) * turn * 1.7  # each harmonic breathes at another moment on each side
            # amp * (1 + depth*sin(drift + d)) * sin(harmonic + h), as three sinusoids
            bins += [k * base, k * base - drift, k * base + drift]
            amps += [amp, amp * depth / 2, amp * depth / 2]
            phases += [h, h - d + np.pi / 2, h + d - np.pi / 2]
        return bins, amps, phases

    def _build(self) -> np.ndarray:
        if self.channels == 1:
            return _to_level(self._channel(0.0)[:, None], self.level_db)
        half = DRONE_WIDTH / 2
        return _to_level(np.stack([self._channel(-half), self._channel(half)], axis=1), self.level_db)


class Binaural(_PeriodicLayer):
    """A binaural beat: pure sines, left at ``carrier``, right at ``carrier + beat``.

    ``level_db`` is the RMS level of each ear (and so of the layer).  Stereo.
    """

    channels = 2

    def __init__(self, rate: int, carrier: float, beat: float, level_db: float) -> None:
        super().__init__(rate)
        self.carrier = check_freq("binaural carrier", carrier, self.rate)
        self.beat = float(beat)
        check_freq("binaural carrier + beat", self.carrier + self.beat, self.rate)
        self.level_db = check_level(level_db)

    def _key(self) -> tuple[object, ...]:
        return (self._bin(self.carrier), self._bin(self.carrier + self.beat), self.level_db)

    def lines(self) -> list[tuple[list[int], list[float]]]:
        return [([self._bin(self.carrier)], [1.0]), ([self._bin(self.carrier + self.beat)], [1.0])]

    def _build(self) -> np.ndarray:
        left = _partials(self.period, [self._bin(self.carrier)], [1.0], [0.0])
        right = _partials(self.period, [self._bin(self.carrier + self.beat)], [1.0], [0.0])
        return _to_level(np.stack([left, right], axis=1), self.level_db)


class Isochronic(_PeriodicLayer):
    """A tone switched on and off ``pulse_rate`` times a second, without clicks.

    Each pulse is on for half its period; the on and off edges are raised-cosine
    ramps ``ISOCHRONIC_EDGE`` of a period long.  ``level_db`` is the RMS level of
    the pulsed tone (so louder peaks than a steady tone at the same level).  Mono.
    """

    channels = 1

    def __init__(self, rate: int, freq: float, pulse_rate: float, level_db: float) -> None:
        super().__init__(rate)
        self.freq = check_freq("isochronic frequency", freq, self.rate)
        self.pulse_rate = check_pulse_rate(pulse_rate, self.freq)
        self.level_db = check_level(level_db)

    def _key(self) -> tuple[object, ...]:
        return (self._bin(self.freq), self._bin(self.pulse_rate), self.level_db)

    def _build(self) -> np.ndarray:
        i = np.arange(self.period, dtype=np.int64)
        tone = np.sin((2 * np.pi / self.period) * ((self._bin(self.freq) * i) % self.period))
        where = ((self._bin(self.pulse_rate) * i) % self.period) / self.period  # pulse phase

        def edge(u: np.ndarray) -> np.ndarray:
            return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))

        envelope = edge(where / ISOCHRONIC_EDGE) - edge((where - 0.5) / ISOCHRONIC_EDGE)
        return _to_level(tone * envelope, self.level_db)[:, None]
