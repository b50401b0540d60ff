"""Benchmark: how soon ``legsup play`` makes its first sound (target: within 2 s, warm cache).

Two figures: the first play with the clips cached, and the later plays (the
voice-anchored master needs no analysis of the mix, so the two should agree).

Plays the default session through the ALSA file sink of ``tests/alsa/capture.conf``
and times from launching the command to the moment the capture file appears (the
device was opened and the first buffer handed over).  The reference, measured in
the same run, is a bare ``python -c pass`` start, so the ratio reads as "how many
interpreter start-ups" on any machine.

    python bench/play_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="legsup-play-") as tmp:
        env = {**os.environ, "ALSA_CONFIG_PATH": str(REPO / "tests" / "alsa" / "capture.conf"),
               "LEGSUP_CACHE_DIR": str(Path(tmp) / "cache")}
        subprocess.run([sys.executable, "-m", "legsup_audio", "timeline"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # warm the clip cache
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        reference = time.perf_counter() - t
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


if __name__ == "__main__":
    main()
