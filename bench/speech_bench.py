"""Benchmark: a cold export of the default session against the voice engine alone.

For each round, in the same run:

- the reference: one process that loads the default profile's Piper voice and
  speaks every distinct text of the default session, one after the other (the
  engine alone, no cache, no mixing, no encoding);
- a real ``legsup export`` subprocess of the default session with an empty clip
  cache (so every text is spoken: by two workers at once), mixed and encoded.

It prints the export's wall time over the reference's (issue 14's target: <= 0.75,
which two cores make possible) for every round and their median, with the CPU
time each took (the export's workers and encoder included) and the load average
before and after the round: on a shared machine the wall times move with the
load, and the CPU times say whether work was added or taken away.

    python bench/speech_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINE_ALONE = """
import sys
from legsup_audio.pipeline import load
from legsup_audio.speech.piper_engine import PiperEngine
from legsup_audio.speech.voices import get_profile
script = load(None)
options = get_profile(script.voice).options
texts = list(dict.fromkeys(script.spoken_texts()))
engine = PiperEngine()
for text in texts:
    engine.synthesize(text, options)
print(len(texts))
"""


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far, and of theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command, its workers and encoder) and output of ``command``."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
    return elapsed, children_cpu() - cpu, done.stdout.strip()


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    ratios = []
    for round_ in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="legsup-speech-bench-") as tmp:
            env = {**os.environ, "LEGSUP_CACHE_DIR": str(Path(tmp) / "cache")}
            before = load()
            alone, alone_cpu, count = timed([sys.executable, "-c", ENGINE_ALONE], env)
            export, export_cpu, _ = timed([sys.executable, "-m", "legsup_audio", "export", "-o", str(Path(tmp) / "s.mp3")], env)
        ratios.append(export / alone)
        print(f"round {round_}: {count} distinct texts; engine alone {alone:.1f} s ({alone_cpu:.1f} s CPU), "
              f"cold export {export:.1f} s ({export_cpu:.1f} s CPU): ratio {export / alone:.2f} "
              f"({before} before, {load()} after)", flush=True)
    print(f"cold export / engine alone: median {statistics.median(ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in ratios)}); target <= 0.75")


if __name__ == "__main__":
    main()
