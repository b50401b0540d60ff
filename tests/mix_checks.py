"""Measuring an exported mix against its timeline: the voice while it speaks, the bed between cues.

Everything here decodes the exported file with ffmpeg and measures it (BS.1770 through
pyloudnorm, true peak through ffmpeg's ebur128, plain correlations); nothing compares bytes.
The timeline's JSON form says where the voice speaks, where the bells ring and where tones sound.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm

RATE = 44100
#: A profile for the fake engine at volume 1.0: the voice lands exactly on the anchor.
FULL_VOLUME_PROFILE = "engine: fake\nvoice: fake/en\nrate: 150\nvolume: 1.0\n"


def decode_channels(path: Path, rate: int = RATE) -> np.ndarray:
    """float64 (frames, channels) of any audio file, decoded by ffmpeg, channels kept."""
    # JSON, not CSV: a file with ReplayGain tags has stream side data, which CSV appends as empty fields.
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=channels", "-of", "json", str(path)], check=True, capture_output=True, text=True)
    channels = int(json.loads(probe.stdout)["streams"][0]["channels"])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ar", str(rate), "pipe:1"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels).astype(np.float64)


def spans(timeline: dict, kind: str) -> list[tuple[float, float]]:
    """(start, end) in seconds of every event of ``kind`` in a timeline's JSON form."""
    return [(e["start"], e["end"]) for e in timeline["events"] if e["kind"] == kind]


def cut(x: np.ndarray, parts: list[tuple[float, float]], rate: int = RATE) -> np.ndarray:
    return np.concatenate([x[int(a * rate) : int(b * rate)] for a, b in parts])


def loudness(x: np.ndarray, rate: int = RATE) -> float:
    """BS.1770 integrated loudness (gated), by pyloudnorm."""
    return float(pyloudnorm.Meter(rate).integrated_loudness(x))


def power_lufs(x: np.ndarray, rate: int = RATE, skip: int = 0) -> float:
    """Ungated BS.1770 loudness of a steady stretch: K-weighted power summed over channels.

    The filters run from the first frame; the first ``skip`` frames (their settling) are not counted.
    """
    meter = pyloudnorm.Meter(rate)
    total = 0.0
    for channel in x.reshape(x.shape[0], -1).T:
        y = channel.copy()
        for f in meter._filters.values():  # noqa: SLF001 - the K-weighting stages, as pyloudnorm runs them
            y = f.apply_filter(y)
        total += float(np.mean(np.square(y[skip:])))
    return float(-0.691 + 10 * np.log10(total)) if total > 0 else float("-inf")


#: A mono file is heard on both ears: measured as dual mono (ffmpeg's ``ebur128=dualmono=true``),
#: its one channel counts twice, 3.01 dB over plain BS.1770.
DUAL_MONO_DB = 10 * np.log10(2.0)


def voice_lufs(x: np.ndarray, timeline: dict, rate: int = RATE) -> float:
    """The voice measured only while it speaks (the dialogue gate of EBU R128 / A/85), by plain
    BS.1770: comparable with ``power_lufs`` of the same file."""
    return loudness(cut(x, spans(timeline, "speech"), rate), rate)


def heard_voice_lufs(x: np.ndarray, timeline: dict, rate: int = RATE) -> float:
    """``voice_lufs`` as the voice is heard: a mono file as dual mono (it plays on both ears)."""
    return voice_lufs(x, timeline, rate) + (DUAL_MONO_DB if x.reshape(x.shape[0], -1).shape[1] == 1 else 0.0)


def dual_mono_lufs(path: Path) -> float:
    """ffmpeg's integrated loudness of a file, a mono one measured as dual mono."""
    import re

    err = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=dualmono=true",
                          "-f", "null", "-"], check=True, capture_output=True, text=True).stderr
    summary = err[err.rindex("Summary:"):]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))


def gaps(timeline: dict, least: float, margin: float = 1.0) -> list[tuple[float, float]]:
    """The stretches between cues (and bells' blooms) at least ``least`` s long, ``margin`` s inside."""
    busy = sorted(spans(timeline, "speech") + spans(timeline, "bell") + spans(timeline, "tone"))
    out, cursor = [], 0.0
    for a, b in busy:
        if a - cursor >= least + 2 * margin:
            out.append((cursor + margin, a - margin))
        cursor = max(cursor, b)
    return out


def true_peak(path: Path) -> float:
    import re

    err = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], check=True, capture_output=True, text=True).stderr
    summary = err[err.rindex("Summary:"):]
    return float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))


def correlation(x: np.ndarray) -> float:
    """Pearson correlation of the left and right channels."""
    return float(np.corrcoef(x[:, 0], x[:, 1])[0, 1])
