"""Measure what the speak stage's clip limiter does to a script's voice (not a timing benchmark).

Speaks every distinct text of a script (default: the default session) with its
voice profile in this process, runs each clip through the speak stage's chain
(``speaker.ready_clip``) and records, per clip, the limiter's gain over time
(``leveling._Clip.at``, the try the levelling kept).  It prints, over the clips:

- the raw clip's peak-to-loudness ratio (true peak over gated BS.1770 loudness):
  how far over its loudness the voice itself peaks;
- the most the limiter took from the clip (its deepest gain, dB);
- the share of the clip's time the limiter held it down by more than 1 dB and 3 dB;
- the make-up gain (dB over the one gain that levels the unlimited clip);
- the finished clip's crest factor (peak over RMS) and loudness error.

A transparent chain takes a few dB from the rarest peaks; one that acts on half of a
clip's time is a compressor.  ``--ceiling`` tries other ceilings (dB over the clip's
loudness; the chain's own is ``VOICE_PEAK_DBTP - VOICE_LUFS``, 16.5 dB) on the same
clips, so the trade between loudness and limiting can be read off one run.

    python bench/voice_chain.py [SCRIPT] [--ceiling 13.5 --ceiling 16.5]
"""

from __future__ import annotations

import argparse

import numpy as np

from legsup_audio.dsp import held_gain, mono_true_peaks
from legsup_audio.pipeline import load
from legsup_audio.speech import leveling, speaker
from legsup_audio.speech.base import Clip
from legsup_audio.speech.engines import make_engine
from legsup_audio.speech.voices import get_profile


def raw_clips(script_name: str | None) -> list[Clip]:
    """Each distinct text of the script, spoken and joined as the chain receives it (before ``voice``)."""
    script = load(script_name)
    profile = get_profile(script.voice)
    engine = make_engine(profile)
    got: list[Clip] = []
    chain = speaker.voice
    speaker.voice = lambda clip, volume=1.0, rate=44100: got.append(clip) or clip  # type: ignore[assignment]
    try:
        for text in dict.fromkeys(script.spoken_texts()):
            speaker.ready_clip(engine, text, profile.options)
    finally:
        speaker.voice = chain  # type: ignore[assignment]
        engine.close()
    return got


def measure(clips: list[Clip], over_loudness_db: float) -> np.ndarray:
    """Per clip: PLR, deepest reduction, share > 1 dB, share > 3 dB, make-up, crest, loudness error."""
    rate = speaker.SAMPLE_RATE
    kept: dict[int, np.ndarray] = {}
    plain_at = leveling._Clip.at

    def at(self: leveling._Clip, gain_db: float) -> tuple[np.ndarray, float]:
        y, loud = plain_at(self, gain_db)
        kept[id(y)] = held_gain(10 ** (gain_db / 20) * self.peaks, self.ceiling, self.window, self.hold)
        return y, loud

    rows = []
    leveling._Clip.at = at  # type: ignore[method-assign]
    try:
        for clip in clips:
            x = clip.samples.astype(np.float64) / 32768.0
            if clip.rate != rate:
                x = speaker.resample(x, clip.rate, rate)
            loudness = speaker.clip_loudness(x, rate)
            plr = 20 * np.log10(mono_true_peaks(x).max()) - loudness
            window = max(1, int(rate * speaker.VOICE_LIMITER_RAMP_S))
            hold = int(rate * speaker.VOICE_LIMITER_HOLD_S)
            y = leveling.level(x, rate, speaker.VOICE_LUFS, 10 ** ((speaker.VOICE_LUFS + over_loudness_db) / 20),
                               window, hold)
            held = kept.pop(id(y), np.ones(1))
            kept.clear()
            gain = np.abs(y).max() / max(np.abs(x * held).max(), 1e-12)
            makeup = 20 * np.log10(gain) - (speaker.VOICE_LUFS - loudness)
            crest = 20 * np.log10(np.abs(y).max() / np.sqrt(np.mean(y**2)))
            rows.append((plr, -20 * np.log10(held.min()), np.mean(held < 10 ** (-1 / 20)),
                         np.mean(held < 10 ** (-3 / 20)), makeup, crest,
                         speaker.clip_loudness(y, rate) - speaker.VOICE_LUFS))
    finally:
        leveling._Clip.at = plain_at  # type: ignore[method-assign]
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script", nargs="?", default=None)
    parser.add_argument("--ceiling", type=float, action="append",
                        help="dB over the clip's loudness (default: the chain's own)")
    args = parser.parse_args()
    clips = raw_clips(args.script)
    print(f"{len(clips)} distinct clips, {sum(c.samples.shape[0] / c.rate for c in clips):.0f} s of speech")
    for ceiling in args.ceiling or [speaker.VOICE_PEAK_DBTP - speaker.VOICE_LUFS]:
        a = measure(clips, ceiling)
        print(f"\nceiling {ceiling:.1f} dB over the clip's loudness")
        for name, col, unit in [("raw peak over loudness", 0, "dB"), ("deepest reduction", 1, "dB"),
                                ("time held > 1 dB", 2, "%"), ("time held > 3 dB", 3, "%"), ("make-up", 4, "dB"),
                                ("crest factor", 5, "dB"), ("loudness error", 6, "LU")]:
            v = a[:, col] * (100 if unit == "%" else 1)
            print(f"  {name:24s} median {np.median(v):6.1f}  p90 {np.percentile(v, 90):6.1f}  "
                  f"min {v.min():6.1f}  max {v.max():6.1f} {unit}")


if __name__ == "__main__":
    main()
