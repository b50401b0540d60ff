"""Benchmark: how soon ``legsup play`` makes its first sound (targets: 2 s warm, 3 s cold).

Four figures: the first play after installing (nothing cached, not even the voice's
optimised model), cold plays of a never-heard script (an empty clip cache each time, the
model kept: the voice speaks the session while it plays, and the sound starts once the
first ten seconds are spoken), the first
play with the clips cached, and the later plays (the voice-anchored master needs no
analysis of the mix, so the two warm figures should agree).

Plays the default session through the ALSA file sink of ``tests/alsa/capture.conf``
and times from launching the command to the moment the capture file appears (the
device was opened and the first buffer handed over).  The reference, measured in
the same run, is a bare ``python -c pass`` start, so the ratio reads as "how many
interpreter start-ups" on any machine.

    python bench/play_start.py [--runs 3] [--cold-runs 3]

The machine's load averages are printed with the figures: on a shared machine they vary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def first_sound(env: dict[str, str], capture: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "legsup_audio", "play"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not capture.exists():
            if proc.poll() is not None:
                raise SystemExit("legsup play ended before making a sound")
            time.sleep(0.002)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait()


def load() -> str:
    return "load averages " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=3, help="plays on a fresh clip cache each (0: none)")
    args = parser.parse_args()
    print(f"before: {load()}")
    with tempfile.TemporaryDirectory(prefix="legsup-play-") as tmp:
        env = {**os.environ, "ALSA_CONFIG_PATH": str(REPO / "tests" / "alsa" / "capture.conf"),
               "LEGSUP_CACHE_DIR": str(Path(tmp) / "cache")}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        reference = time.perf_counter() - t
        cold, first_ever = [], None
        if args.cold_runs:
            # The first play after installing: not even the voice's optimised model is kept yet.
            fresh = {**env, "LEGSUP_CACHE_DIR": str(Path(tmp) / "ever"), "LEGSUP_CAPTURE_FILE": str(Path(tmp) / "ever.wav")}
            first_ever = first_sound(fresh, Path(fresh["LEGSUP_CAPTURE_FILE"]))
        for run in range(args.cold_runs):
            # A never-heard script: no clip of it is cached, the voice's model is (kept by any earlier use).
            cache = Path(tmp) / f"cold{run}"
            shutil.copytree(Path(tmp) / "ever" / "models", cache / "models", copy_function=os.link)
            fresh = {**env, "LEGSUP_CACHE_DIR": str(cache), "LEGSUP_CAPTURE_FILE": str(Path(tmp) / f"cold{run}.wav")}
            cold.append(first_sound(fresh, Path(fresh["LEGSUP_CAPTURE_FILE"])))
        subprocess.run([sys.executable, "-m", "legsup_audio", "timeline"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # warm the clip cache
        times = []
        for run in range(args.runs + 1):
            env["LEGSUP_CAPTURE_FILE"] = str(Path(tmp) / f"cap{run}.wav")
            times.append(first_sound(env, Path(env["LEGSUP_CAPTURE_FILE"])))
        first, warm = times[0], times[1:]
        best, worst = min(warm), max(warm)
        print(f"first sound, later plays: best {best:.2f}s, worst {worst:.2f}s (target 2 s); "
              f"python start-up {reference:.3f}s; ratio best/start-up {best / reference:.1f}")
        print(f"first sound, first play (clips cached): {first:.2f}s "
              f"= {first / reference:.1f} start-ups")
        if cold:
            ordered = sorted(cold)
            print(f"first sound, first play after installing (no clip, no kept model): {first_ever:.2f}s")
            print(f"first sound, cold (a never-heard script: an empty clip cache each play): best {ordered[0]:.2f}s, "
                  f"median {ordered[len(ordered) // 2]:.2f}s, worst {ordered[-1]:.2f}s (target 3 s); "
                  f"ratio best/start-up {ordered[0] / reference:.1f}, median/start-up "
                  f"{ordered[len(ordered) // 2] / reference:.1f}")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
