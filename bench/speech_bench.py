"""Benchmark: a cold export of the default session against the voice engine alone.

For each round, in the same run:

- the reference: one process that loads the default profile's Piper voice and
  speaks every distinct text of the default session, one after the other (the
  engine alone, no cache, no mixing, no encoding);
- a real ``legsup timeline`` subprocess of the default session with an empty clip
  cache: every text spoken by two workers at once, and nothing else (the speech
  part of a cold export);
- a real ``legsup export`` subprocess of the default session with another empty
  clip cache: spoken the same way, then mixed and encoded.

It prints the export's wall time over the reference's (issue 14's target: <= 0.75)
for every round and their median, the speech part's too, with the CPU time each
took (the workers and the encoder included) and the load average before and after
the round: on a shared machine the wall times move with the load, and the CPU times
say whether work was added or taken away.  On two cores the export cannot take less
than half its CPU time: that floor is printed as a ratio as well.

    python bench/speech_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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
    ratios, speech_ratios, floors = [], [], []
    cores = len(os.sched_getaffinity(0))
    for round_ in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="legsup-speech-bench-") as tmp:
            caches = [Path(tmp) / "cache", Path(tmp) / "cache-2"]
            env = {**os.environ, "LEGSUP_CACHE_DIR": str(caches[0])}
            before = load()
            alone, alone_cpu, count = timed([sys.executable, "-c", ENGINE_ALONE], env)
            # The reference kept the voice's optimised graph (cache/models): the export finds it too.
            shutil.copytree(caches[0] / "models", caches[1] / "models")
            speech, speech_cpu, _ = timed([sys.executable, "-m", "legsup_audio", "timeline", "--json"],
                                          {**env, "LEGSUP_CACHE_DIR": str(caches[1])})
            export, export_cpu, _ = timed([sys.executable, "-m", "legsup_audio", "export", "-o", str(Path(tmp) / "s.mp3")], env)
        ratios.append(export / alone)
        speech_ratios.append(speech / alone)
        floors.append(export_cpu / cores / alone)
        print(f"round {round_}: {count} distinct texts; engine alone {alone:.1f} s ({alone_cpu:.1f} s CPU); "
              f"cold timeline (speech only) {speech:.1f} s ({speech_cpu:.1f} s CPU): ratio {speech / alone:.2f}; "
              f"cold export {export:.1f} s ({export_cpu:.1f} s CPU): ratio {export / alone:.2f}, "
              f"CPU over {cores} cores {floors[-1]:.2f} ({before} before, {load()} after)", flush=True)
    print(f"speech only (cold timeline) / engine alone: median {statistics.median(speech_ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in speech_ratios)})")
    print(f"cold export / engine alone: median {statistics.median(ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in ratios)}); target <= 0.75; "
          f"its CPU time over {cores} cores (the least it could take): median {statistics.median(floors):.2f}")


if __name__ == "__main__":
    main()
