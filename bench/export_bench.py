"""Benchmark: exporting a long session against ffmpeg encoding the same audio alone.

Generates sessions of 15 and 60 minutes (a spoken cue every 10 seconds), warms
the clip cache, then for each length measures in the same run:

- the wall time of a real ``legsup export`` subprocess (MP3, default settings);
- the wall time of ffmpeg alone encoding the identical finished audio (exported
  once as WAV) with the same encoder settings: the reference;
- the export's peak resident memory.

It prints figures as ratios against the reference, so they mean the same on a
slow or a fast machine.  ``ratio`` is a first export of the session (only the clip
cache is warm: the voice-anchored master needs no analysis of the mix); ``again``
exports it once more.
Each length is measured in ``--repeat`` rounds, each with its own reference (a
shared machine's speed drifts): the medians are shown, and every round's ratio.
Targets (issues 2, 4 and 16): ratio and again <= 1.05 (60 minutes with a bed),
peak RSS < 200 MB and flat between 15 and 60 minutes.

    python bench/export_bench.py [--minutes 15 60] [--repeat 3] [--keep DIR] [--background]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS = ("gently", "slowly", "softly", "easily", "quietly", "calmly")
PARTS = ("your shoulders", "your jaw", "your hands", "your belly", "your hips", "your feet", "your breath")


BED = ["background:", "  drone: {note: A2, level: -27dB}", "  noise: {color: pink, level: -30dB}",
       "  bells: {at: steps, level: -12dB}", "  fade_in: 5s", "  fade_out: 5s"]


def make_script(minutes: int, cue_every_s: int = 10, background: bool = False) -> str:
    """A session of ``minutes``, one step per five minutes, a distinct cue every ``cue_every_s``."""
    lines = [f"title: Benchmark {minutes} minutes", "lead_in: 1s", "tail: 3s", *(BED if background else []),
             "steps:"]
    per_step = 300 // cue_every_s
    n = 0
    for step in range(minutes // 5):
        lines += [f"  - title: Part {step + 1}", "    duration: 5m", "    cues:"]
        for k in range(per_step):
            text = f"Cue {n + 1}: let {PARTS[n % len(PARTS)]} rest {WORDS[n % len(WORDS)]}."
            lines += [f"      - at: {k * cue_every_s}s", f"        say: \"{text}\""]
            n += 1
    return "\n".join(lines) + "\n"


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process (and the ones it waited for)."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "dt = time.perf_counter() - t\n"
        "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    seconds, rss, status = out.stdout.split()
    if status != "0":
        raise SystemExit(f"command failed: {' '.join(args)}")
    return float(seconds), int(rss)


def bench(minutes: int, work: Path, env: dict[str, str], background: bool = False, repeat: int = 3) -> dict:
    script = work / f"bench-{minutes}.yaml"
    script.write_text(make_script(minutes, background=background), encoding="utf-8")
    legsup = [sys.executable, "-m", "legsup_audio"]
    # Warm the clip cache (synthesis is not what is measured) and make the reference audio.
    subprocess.run([*legsup, "timeline", str(script), "--json"], env=env, check=True, stdout=subprocess.DEVNULL)
    wav = work / f"bench-{minutes}.wav"
    subprocess.run([*legsup, "export", str(script), "-o", str(wav), "--format", "wav"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    mp3 = work / f"bench-{minutes}.mp3"
    stereo = wav.read_bytes()[22:24] == b"\x02\x00"  # the WAV header's channel count
    # The reference: ffmpeg alone, same audio, same encoder, bitrate and options (encode.FORMATS).
    from legsup_audio.output.encode import FORMATS

    reference = ["ffmpeg", "-v", "error", "-y", "-i", str(wav), *FORMATS["mp3"].encoder_args(2 if stereo else 1),
                 str(work / "reference.mp3")]
    firsts, agains, refs, rss = [], [], [], 0
    # A shared machine's speed drifts over minutes: each round measures its own reference
    # next to its exports, and the median of each figure is reported.
    for _ in range(repeat):
        os.sync()  # the reference WAV (hundreds of MB) is flushed now, not while the export is timed
        ffmpeg_s, _ = run_child(reference, env)
        export_s, export_rss = run_child([*legsup, "export", str(script), "-o", str(mp3)], env)
        again_s, _ = run_child([*legsup, "export", str(script), "-o", str(mp3)], env)
        firsts.append(export_s / ffmpeg_s)
        agains.append(again_s / ffmpeg_s)
        refs.append(ffmpeg_s)
        rss = max(rss, export_rss)
    return {"minutes": minutes, "ffmpeg_s": statistics.median(refs), "ratio": statistics.median(firsts),
            "ratios": firsts, "again_ratio": statistics.median(agains), "again_ratios": agains,
            "rss_mb": rss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, nargs="+", default=[15, 60])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per length; the median is shown")
    parser.add_argument("--keep", type=Path, help="keep the generated files in this folder")
    parser.add_argument("--background", action="store_true",
                        help="give the sessions a bed: a drone, pink noise and bells at every step")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    work = args.keep or Path(tempfile.mkdtemp(prefix="legsup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(work / "cache")}
    print(f"{'session':>8} {'ffmpeg':>8} {'ratio':>6} {'again':>6} {'peak RSS':>9}  rounds (ratio / again)")
    results = []
    for minutes in args.minutes:
        r = bench(minutes, work, env, args.background, args.repeat)
        results.append(r)
        print(f"{minutes:>6} m {r['ffmpeg_s']:>7.2f}s {r['ratio']:>6.2f} {r['again_ratio']:>6.2f}"
              f" {r['rss_mb']:>6.0f} MB  {' '.join(f'{x:.2f}' for x in r['ratios'])}"
              f" / {' '.join(f'{x:.2f}' for x in r['again_ratios'])}")
    if len(results) > 1:
        growth = results[-1]["rss_mb"] / results[0]["rss_mb"]
        print(f"peak RSS {results[-1]['minutes']} m / {results[0]['minutes']} m: {growth:.2f}")
    if not args.keep:
        for path in sorted(work.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        work.rmdir()


if __name__ == "__main__":
    main()
