"""Measuring decoded audio for the end-to-end tests: ffprobe, ffmpeg decoding, ebur128.

Everything here asks an independent tool (ffprobe/ffmpeg) or computes a plain
measurable property (energy per 20 ms window); nothing compares bytes.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WINDOW_MS = 20


def probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-print_format", "json",
         str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def ffprobe_chapters(path: Path) -> list[dict]:
    """The chapters ffprobe reads from a file (start_time/end_time in seconds, tags.title)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-print_format", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["chapters"]


def decode(path: Path, rate: int = 44100) -> np.ndarray:
    """Mono float samples of any audio file, decoded by ffmpeg."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(rate), "pipe:1"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4")


def window_db(samples: np.ndarray, rate: int = 44100, window_ms: int = WINDOW_MS) -> np.ndarray:
    """RMS level in dBFS of each consecutive window."""
    n = rate * window_ms // 1000
    whole = samples[: len(samples) // n * n].reshape(-1, n).astype(np.float64)
    rms = np.sqrt((whole**2).mean(axis=1))
    with np.errstate(divide="ignore"):
        return 20 * np.log10(np.maximum(rms, 1e-10))


@dataclass
class Ebur128:
    integrated: float
    true_peak: float


def ebur128(path: Path, *, dualmono: bool = False) -> Ebur128:
    """Integrated loudness and true peak as ffmpeg's ebur128 filter measures them; ``dualmono``: a
    mono file as heard on two ears (its one channel counted twice, 3.01 dB more)."""
    spec = "ebur128=peak=true" + (":dualmono=true" if dualmono else "")
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", spec, "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr
    summary = err[err.rindex("Summary:"):]
    integrated = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return Ebur128(integrated, peak)


def first_loud_ms(samples: np.ndarray, start_ms: int, threshold_db: float, rate: int = 44100) -> float | None:
    """ms after ``start_ms`` of the first sample louder than ``threshold_db`` dBFS."""
    start = start_ms * rate // 1000
    level = np.abs(samples[start: start + rate])
    loud = np.flatnonzero(level > 10 ** (threshold_db / 20))
    return None if loud.size == 0 else loud[0] * 1000 / rate
