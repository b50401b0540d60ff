"""`validate` and `export` agree: what validate passes, export never rejects as a script error (issue #17).

A seeded run of mutated scripts (the built-in and golden scripts, edited the way
``test_fuzz`` edits them, plus values aimed at the checks ``export`` used to meet
late: lone surrogates, text that speaks as nothing, frequencies at the edges, long
names, bad covers and music).  Each mutant goes through what ``legsup validate``
runs (``pipeline.build`` and the linter); every one it passes goes through
``export_session``: rendered, mastered, tagged and captioned, with the encoder
replaced by a stand-in that reads the first and last blocks of the mix and writes a
small ready-made MP3 (ffmpeg per mutant would cost minutes).  Allowed outcomes:
validate fails with a ``ScriptError`` and export is not tried; or both pass.  Any
other exception is a traceback; a ``LegsupError`` from export after validate passed
is a disagreement.  A sample of the valid mutants then runs through the installed
command in subprocesses, real ffmpeg included, and the harness asserts no traceback.

``LEGSUP_AGREEMENT_EXAMPLES=20000`` runs a longer search (default 2,000).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

import legsup_audio.output.export as export_mod
from legsup_audio.errors import LegsupError, ScriptError
from legsup_audio.output.export import export_session
from legsup_audio.pipeline import build
from legsup_audio.script.lint import warnings_for
from legsup_audio.speech.cache import ClipCache
from test_fuzz import BASES, WEIRD, QuickFakeEngine, mutate

EXAMPLES = int(os.environ.get("LEGSUP_AGREEMENT_EXAMPLES", "2000"))
SUBPROCESS_SAMPLE = 4  # the shortest valid mutants: each runs validate and a real export
#: Values aimed at what export used to find after validate said ok.
AIMED = [
    '"a\\ud800b"', '"\\udc80"', '"x\\ud83d\\ude00"', "...", "'—'", "'!?'", "🙂", "'.'",
    "{freq: 0.0001}", "{freq: 22049.9999}", "{freq: 30000}", "{note: G9}", "{note: C-1}",
    "{carrier: 22000, beat: 49}", "{freq: 0.0004, rate: 0.0001}", "{file: quiet.wav}", "{file: bed.wav}",
    "{file: art.gif}", "{file: /dev/zero}", "art.gif", "art.png", "bomb.png", "quiet.wav", "x" * 1999,
    '"\\e[31mred\\e[0m"', '"tab\\there"', '"nul\\0byte"', "'Remember: no hurry'", "'[bold]x[/bold]'",
]
SKIPPED_LONG_MS = 20 * 60_000  # longer mutants are checked by validate only: rendering them costs seconds


def _media(folder: Path) -> None:
    Image.new("RGB", (8, 8)).save(folder / "art.gif", format="GIF")
    Image.new("RGB", (64, 64), (20, 30, 40)).save(folder / "art.png", format="PNG")
    Image.new("1", (60_000, 60_000)).save(folder / "bomb.png", format="PNG")
    ffmpeg = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi"]
    subprocess.run([*ffmpeg, "-i", "anullsrc=r=44100:cl=stereo:d=1", str(folder / "quiet.wav")], check=True)
    subprocess.run([*ffmpeg, "-i", "sine=330:d=1", str(folder / "bed.wav")], check=True)
    subprocess.run([*ffmpeg, "-i", "sine=330:d=0.3", "-c:a", "libmp3lame", str(folder / "template.mp3")],
                   check=True)


#: Plausible values, so that a good share of mutants stay valid and reach export.
PLAUSIBLE = ["Hello there.", "Breathe out slowly.", "2s", "1m", "0:30", "250ms", "box", "4-7-8", "words", "count",
             "tone", "silent", "3", "A2", "-30dB", "{freq: 110}", "{color: brown}", "pink", "steps", "calm",
             "default", "es", "en", "Evening rest", "x" * 500, "'Remember: there is no hurry.'", "1h"]
REPO = Path(__file__).resolve().parents[1]
VALID_BASES = [p.read_bytes() for p in (*sorted((REPO / "scripts").glob("*.yaml")),
                                        *sorted((REPO / "tests/golden/scripts").glob("*.yaml")))]


def mutants(count: int, seed: int = 17) -> list[str]:
    """``count`` mutants: one or two edits of a script, values hostile, aimed or plausible (seeded)."""
    rng = random.Random(seed)
    kinds = ["delete", "duplicate", "swap", "indent", "value", "value", "value", "value", "key", "splice"]
    out = []
    for _ in range(count):
        base = rng.choice(VALID_BASES if rng.random() < 0.9 else BASES).decode("utf-8", "surrogateescape")
        edits = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            pool = rng.choice([WEIRD, AIMED, PLAUSIBLE, PLAUSIBLE])
            edits.append((rng.choice(kinds), rng.randrange(10**6), rng.randrange(10**6), rng.choice(pool)))
        out.append(mutate(base, edits))
    return out


class _Stand_in:
    """The encoder, minus ffmpeg: reads the mix's first and last blocks, writes a ready-made MP3."""

    def __init__(self, template: bytes) -> None:
        self.template = template

    def __call__(self, source, dest, fmt="mp3", bitrate=None, progress=None, block=4096, target=None,  # noqa: ANN001
                 chapters=None, language=None) -> None:
        source.read(0, min(block, source.total))
        source.read(max(0, source.total - block), min(block, source.total))
        Path(dest).write_bytes(self.template)


@pytest.fixture
def arena(fake_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _media(fake_workdir)
    monkeypatch.setattr(export_mod, "encode", _Stand_in((fake_workdir / "template.mp3").read_bytes()))
    cover = (fake_workdir / "art.png").read_bytes()  # drawing a 1000 px cover per mutant costs more than the rest
    monkeypatch.setattr(export_mod, "drawn_cover", lambda session: cover)
    return fake_workdir


def test_validate_and_export_agree_on_mutated_scripts(arena: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = ClipCache(arena.parent / "agreement-cache")
    engine = QuickFakeEngine()
    script = arena / "mutant.yaml"
    counts = {"mutants": 0, "invalid": 0, "valid": 0, "exported": 0, "too long to render": 0}
    tracebacks: list[str] = []
    disagreements: list[str] = []
    valid: list[tuple[int, str]] = []
    started = time.monotonic()
    for text in mutants(EXAMPLES):
        counts["mutants"] += 1
        script.write_bytes(text.encode("utf-8", "surrogateescape"))
        try:
            session = build(str(script), cache=cache, engine=engine)
            list(warnings_for(session.script, session.timeline, session.profile.language))
        except ScriptError:
            counts["invalid"] += 1
            continue
        except LegsupError as exc:  # e.g. an unknown voice in --voice: not reachable from a script
            tracebacks.append(f"validate: {type(exc).__name__}: {exc}\n{text}")
            continue
        except Exception as exc:  # noqa: BLE001 - the point: anything else is a traceback
            tracebacks.append(f"validate: {type(exc).__name__}: {exc}\n{text}")
            continue
        counts["valid"] += 1
        if session.timeline.duration > SKIPPED_LONG_MS:
            counts["too long to render"] += 1
            continue
        valid.append((session.timeline.duration, text))
        dest = arena / "out" / "mutant.mp3"
        try:
            export_session(session, dest)
            counts["exported"] += 1
        except LegsupError as exc:
            disagreements.append(f"export: {type(exc).__name__}: {exc}\n{text}")
        except Exception as exc:  # noqa: BLE001
            tracebacks.append(f"export: {type(exc).__name__}: {exc}\n{text}")
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\nagreement fuzz: {counts}, {len(tracebacks)} tracebacks, {len(disagreements)} disagreements, "
              f"{seconds:.0f} s")
    assert counts["mutants"] >= 2000 or EXAMPLES < 2000
    assert not tracebacks, tracebacks[:3]
    assert not disagreements, disagreements[:3]
    assert counts["valid"] >= counts["mutants"] // 10 and counts["invalid"] >= counts["mutants"] // 10  # both sides tried
    _SAMPLE[:] = [text for _, text in sorted(valid)[:SUBPROCESS_SAMPLE]]


_SAMPLE: list[str] = []


def test_a_sample_of_valid_mutants_exports_through_the_command(fake_workdir: Path, legsup_run) -> None:  # noqa: ANN001
    texts = _SAMPLE or [(REPO / "tests/golden/scripts/plain.yaml").read_text(encoding="utf-8")]
    _media(fake_workdir)
    for index, text in enumerate(texts):
        path = fake_workdir / f"m{index}.yaml"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        checked = legsup_run("validate", path.name, cwd=fake_workdir)
        exported = legsup_run("export", path.name, "-o", f"out/m{index}.mp3", cwd=fake_workdir)
        if checked.returncode == 0:
            assert exported.returncode in (0, 1), exported.stderr  # never a script or usage error (2)
            assert exported.returncode == 0 or "ffmpeg" in exported.stderr, exported.stderr
        else:
            assert checked.returncode == 2 and exported.returncode == 2, (checked.stderr, exported.stderr)


@pytest.fixture(autouse=True)
def _quiet_tmp() -> None:
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())
    assert shutil.which("ffmpeg"), "ffmpeg is installed in CI"
    assert sys.executable
