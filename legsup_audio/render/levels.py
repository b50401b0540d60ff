"""What a script's ``level:`` means: a layer's loudness relative to the voice.

Owns the calibration that turns a level in dB into a layer's gain.  The speak
stage levels every clip to ``speech.speaker.VOICE_LUFS`` while it speaks; a
background layer (and the guide tones) written at ``level: L`` is made to
measure ``VOICE_LUFS + L`` LUFS on its own in the mix (K-weighted, BS.1770, the
power of all its channels summed), so ``noise: {level: -30dB}`` sounds 30 LU
under the voice whatever its colour or pitch, before and after mastering (the
master's gain moves everything together).  Each kind is calibrated where it is
cheapest and exact:

- tone layers (drone, binaural, isochronic) in closed form from their one period:
  by Parseval, the K-weighted power is the table's power spectrum weighted by the
  K-weighting's response (``table_power``);
- noise from its colouring filter's response: the K-weighted share of its power
  (``filter_power``; a constant per colour and sample rate);
- guide tones from a sine's power at the glide's middle pitch (``sine_power``);
- a music file from its decoded samples' gated loudness (``render.bed.music``);
- bells by one strike's loudest 400 ms (momentary loudness, ``strike_power``).

It renders no session and keeps nothing between runs: a handful of FFTs and
filter responses, once per layer.  numpy only.
"""

from __future__ import annotations

import numpy as np

from legsup_audio.dsp import k_weighted_squares, k_weighting_sos, sos_response

#: BS.1770's offset: loudness = -0.691 + 10 log10(K-weighted power, channels summed).
LUFS_OFFSET = -0.691
#: Bells are measured over this window: BS.1770's momentary loudness.
MOMENTARY_S = 0.4


def voice_lufs() -> float:
    from legsup_audio.speech.speaker import VOICE_LUFS

    return VOICE_LUFS


def target_power(level_db: float) -> float:
    """The K-weighted power (channels summed) of a layer at ``level_db`` relative to the voice."""
    return float(10 ** ((voice_lufs() + level_db - LUFS_OFFSET) / 10))


def gain_for(level_db: float, unit_power: float) -> float:
    """The amplitude gain that brings a layer whose K-weighted power is ``unit_power`` to ``level_db``."""
    return float(np.sqrt(target_power(level_db) / max(unit_power, 1e-30)))


def k_response(freqs: np.ndarray, rate: int) -> np.ndarray:
    """|K(f)|^2: the K-weighting's power gain at each frequency."""
    return np.abs(sos_response(k_weighting_sos(rate), np.asarray(freqs, dtype=np.float64), rate)) ** 2


def sine_power(freq: float, rate: int) -> float:
    """K-weighted power of a unit-amplitude sine at ``freq``."""
    return 0.5 * float(k_response(np.array([freq]), rate)[0])


def table_power(table: np.ndarray, rate: int) -> float:
    """Exact K-weighted power (channels summed) of the signal that repeats ``table`` (frames, channels)."""
    n = table.shape[0]
    spectrum = np.fft.rfft(table.astype(np.float64), axis=0)
    power = np.abs(spectrum) ** 2 / (n * n)
    power[1 : (n + 1) // 2] *= 2  # both halves of the spectrum
    weights = k_response(np.arange(power.shape[0]) * rate / n, rate)
    return float((power * weights[:, None]).sum())


def filter_power(direct: float, residues: np.ndarray, poles: np.ndarray, rate: int) -> float:
    """K-weighted share of filtered white noise's power: K-power per unit of (unweighted) power.

    The filter is ``direct + sum(r / (1 - p z^-1))`` (``bed.generators.OnePoleBank``).
    """
    n = 1 << 17
    freqs = (np.arange(n) + 0.5) * (rate / 2) / n  # midpoints: the grid resolves a 20 Hz corner
    z = np.exp(-2j * np.pi * freqs / rate)
    h = direct + (np.asarray(residues)[:, None] / (1 - np.asarray(poles)[:, None] * z[None, :])).sum(axis=0)
    shaped = np.abs(h) ** 2
    return float((shaped * k_response(freqs, rate)).sum() / shaped.sum())


def strike_power(strike: np.ndarray, rate: int) -> float:
    """K-weighted power of one (mono) strike's loudest 400 ms: its momentary loudness."""
    squares = k_weighted_squares(strike[: rate * 4], rate)
    window = int(rate * MOMENTARY_S)
    sums = np.cumsum(np.concatenate([[0.0], squares]))
    return float((sums[window:] - sums[:-window]).max() / window)
