"""Measuring a written track for its page: loudness and peaks over time, decoded from the file itself.

Owns decoding the finished file with ffmpeg (float PCM on a pipe, read block by
block so memory stays flat with length) and reducing it to an :class:`Envelope`:
per bin the sample peak in dBFS and the momentary loudness (BS.1770, 400 ms, the
same K-weighting meter as the master), and the whole file's integrated loudness;
a mono file's loudness as heard on two ears (measured as dual mono, 3 dB more, as the
``wrote`` line and the tags give it), so its voice meets the same target line.
The drawing therefore shows what was written, encoder and all, not what was
planned.  It does not draw or write anything.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np

from legsup_audio.dsp import LoudnessMeter
from legsup_audio.output.encode import find_ffmpeg
from legsup_audio.errors import OutputError
from legsup_audio.output.page.model import FLOOR_DB, Envelope
from legsup_audio.render.master import as_heard_db

#: One bin of the drawing: 200 ms gives 4,200 bins for a 14-minute session (about 60 kB of JSON).
BIN_MS = 200
#: Frames read from ffmpeg at a time.
READ_FRAMES = 1 << 16


def measure_file(path: Path, channels: int, rate: int = 44100, bin_ms: int = BIN_MS) -> Envelope:
    """Decode ``path`` (any format ffmpeg reads) as ``channels`` at ``rate`` and measure it."""
    args = [find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
            "-map", "0:a:0", "-ac", str(channels), "-ar", str(rate), "-f", "f32le", "pipe:1"]
    meter = LoudnessMeter(rate, channels)
    bin_frames = rate * bin_ms // 1000
    peaks: list[np.ndarray] = []
    carry = np.zeros(0, dtype=np.float32)
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        pending = b""
        while chunk := proc.stdout.read(READ_FRAMES * channels * 4):
            data = pending + chunk
            usable = len(data) - len(data) % (channels * 4)
            pending = data[usable:]
            block = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)
            meter.feed(block.astype(np.float64))
            mags = np.concatenate([carry, np.abs(block).max(axis=1)])
            whole = mags.shape[0] - mags.shape[0] % bin_frames
            if whole:
                peaks.append(mags[:whole].reshape(-1, bin_frames).max(axis=1))
            carry = mags[whole:]
        errors = proc.stderr.read().decode("utf-8", "replace").strip()
        code = proc.wait()
    if code != 0:
        raise OutputError(f"could not decode {path} to measure it for its page: {errors or f'ffmpeg exit {code}'}")
    if carry.size:
        peaks.append(carry.max(keepdims=True))
    peak = np.concatenate(peaks) if peaks else np.zeros(0)
    heard = as_heard_db(channels)
    return Envelope(
        bin_ms=bin_ms,
        peak=tuple(_db(float(p)) for p in peak),
        loudness=tuple(v if v <= FLOOR_DB else _rounded(v + heard)
                       for v in _momentary(meter.energies(), meter.step, bin_ms, peak.shape[0])),
        integrated=_rounded(meter.integrated() + heard),
        max_peak=_db(float(peak.max())) if peak.size else FLOOR_DB,
        heard_db=round(heard, 2),
    )


def _momentary(energies: np.ndarray, step: int, bin_ms: int, count: int) -> tuple[float, ...]:
    """Momentary loudness (a 400 ms window centred on each bin), from K-weighted energies per 100 ms."""
    per_bin = bin_ms // 100
    padded = np.concatenate([np.zeros(2), energies, np.zeros(4 + per_bin)])
    out = []
    for i in range(count):
        centre = 2 + i * per_bin + per_bin // 2  # index of the 100 ms block at the bin's centre, in padded
        window = padded[centre - 2: centre + 2]
        power = window.sum() / (4 * step)
        out.append(_rounded(-0.691 + 10 * math.log10(power)) if power > 0 else FLOOR_DB)
    return tuple(out)


def _db(amplitude: float) -> float:
    return _rounded(20 * math.log10(amplitude)) if amplitude > 0 else FLOOR_DB


def _rounded(value: float) -> float:
    if not math.isfinite(value):
        return FLOOR_DB
    return max(FLOOR_DB, round(value, 1))
