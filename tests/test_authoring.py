"""Writing your own session: `legsup new`, `validate` (suggestions and warnings), `schema`, voices.

The built-in scripts are checked with the repository's own voice profiles and the
fake engine standing in for espeak-ng (same profiles, fake lengths), so these tests
are fast; the real engine is used where the voice id itself matters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

import legsup_audio.script.resources as resources
from legsup_audio.cli import app
from legsup_audio.units import parse_duration
from legsup_audio.errors import ScriptError
from legsup_audio.script.parse import parse_script
from legsup_audio.speech.base import SpeechEngine
from legsup_audio.script.schema import MODELINE, SCHEMA_FILE, _DURATION_TEXT, build_schema, schema_json

REPO = Path(__file__).resolve().parents[1]
BUILTIN_SCRIPTS = sorted((REPO / "scripts").glob("*.yaml"))
BROKEN = sorted((REPO / "tests" / "golden" / "broken").glob("*.yaml"))
VARIANTS = ("legs-up-the-wall-short", "legs-up-the-wall-long", "legs-up-the-wall-chair", "piernas-en-la-pared")
#: Broken fixtures a JSON Schema cannot reject, and why.
NOT_SCHEMA_LEVEL = {
    "at_backwards": "timing: needs the spoken lengths",
    "duplicate_ids": "uniqueness of ids, some of them derived from titles",
    "duplicate_key": "YAML loaders keep the last of duplicate keys before a schema sees them",
    "not_utf8": "not loadable text",
    "yaml_syntax": "not loadable YAML",
    "unknown_voice": "voice profiles are files known only at run time",
    "breathe_for_too_short": "whether one whole cycle fits in `for` is arithmetic on two values",
    "breathe_too_slow": "timing: needs the spoken lengths of the guide words",
}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip cache for the module: the same texts and profiles make the same clips."""
    return tmp_path_factory.mktemp("clip-cache")


@pytest.fixture
def repo_voices_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_cache: Path) -> Path:
    """cwd = tmp with the repository's built-ins, every voice profile switched to the fake engine."""
    work = tmp_path / "work"
    (work / "voices").mkdir(parents=True)
    for profile in sorted((REPO / "voices").glob("*.yaml")):
        text = re.sub(r"(?m)^engine:.*$", "engine: fake", profile.read_text(encoding="utf-8"))
        (work / "voices" / profile.name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("LEGSUP_CACHE_DIR", str(shared_cache))
    monkeypatch.setattr(resources, "builtin_dir", lambda kind: REPO / kind)
    monkeypatch.chdir(work)
    return work


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, list(args))


# --- legsup new ---------------------------------------------------------------------------


def test_variants_are_built_in() -> None:
    names = {p.stem for p in BUILTIN_SCRIPTS}
    assert {"legs-up-the-wall", *VARIANTS} <= names
    for path in BUILTIN_SCRIPTS:
        assert path.read_text(encoding="utf-8").splitlines()[0] == MODELINE, path.name


@pytest.mark.parametrize("source", [p.stem for p in BUILTIN_SCRIPTS])
def test_new_then_validate(repo_voices_fake: Path, source: str) -> None:
    made = invoke("new", f"my-{source}", "--from", source)
    assert made.exit_code == 0, made.output
    dest = repo_voices_fake / "scripts" / f"my-{source}.yaml"
    text = dest.read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    assert "# title: required" in text and "# steps: required" in text  # keys explained where used
    assert (repo_voices_fake / "scripts" / SCHEMA_FILE).read_text(encoding="utf-8") == schema_json()
    checked = invoke("validate", str(dest))
    assert checked.exit_code == 0, checked.output
    assert "ok (" in checked.output and "warning" not in checked.output
    # The commented copy is the same session as its source, step for step and cue for cue.
    copy, original = (parse_script(p, script_id="x") for p in (dest, REPO / "scripts" / f"{source}.yaml"))
    assert [(s.id, s.title, s.duration, len(s.cues)) for s in copy.steps] == \
           [(s.id, s.title, s.duration, len(s.cues)) for s in original.steps]
    assert [getattr(c, "text", None) for s in copy.steps for c in s.cues] == \
           [getattr(c, "text", None) for s in original.steps for c in s.cues]


def test_new_refuses_to_overwrite_without_force(repo_voices_fake: Path) -> None:
    assert invoke("new", "evening").exit_code == 0
    dest = repo_voices_fake / "scripts" / "evening.yaml"
    dest.write_text("title: Mine\nsteps: [{title: One, cues: [Hello.]}]\n", encoding="utf-8")
    again = invoke("new", "evening", "--from", "legs-up-the-wall-short")
    assert again.exit_code == 2
    assert again.output.strip() == "scripts/evening.yaml already exists; pass --force to overwrite it"
    assert dest.read_text(encoding="utf-8").startswith("title: Mine")
    forced = invoke("new", "evening", "--from", "legs-up-the-wall-short", "--force")
    assert forced.exit_code == 0, forced.output
    copy, short = (parse_script(p, script_id="x") for p in (dest, REPO / "scripts" / "legs-up-the-wall-short.yaml"))
    assert copy.title == "Evening" and [s.title for s in copy.steps] == [s.title for s in short.steps]


@pytest.mark.parametrize(("name", "title"), [("evening", "Evening"), ("evening-short", "Evening short"),
                                             ("my_Sunday_rest", "My Sunday rest"), ("no2", "No2")])
def test_new_takes_its_title_from_its_name_and_not_the_builtins_credit(
        repo_voices_fake: Path, name: str, title: str) -> None:
    assert invoke("new", name).exit_code == 0
    dest = repo_voices_fake / "scripts" / f"{name}.yaml"
    copy = parse_script(dest, script_id=name)
    builtin = parse_script(REPO / "scripts" / "legs-up-the-wall.yaml", script_id="legs-up-the-wall")
    assert copy.title == title
    assert builtin.author == "legsup-audio" and copy.author is None  # the artist is yours to write, not ours
    assert "# author: Your name" in dest.read_text(encoding="utf-8")
    # The rest of the session is the built-in's, as written.
    assert (copy.voice, copy.gap, copy.lead_in, copy.tail, len(copy.steps)) == \
           (builtin.voice, builtin.gap, builtin.lead_in, builtin.tail, len(builtin.steps))
    assert invoke("validate", str(dest)).exit_code == 0


def test_new_from_a_script_elsewhere_keeps_its_files_and_its_author(repo_voices_fake: Path) -> None:
    import subprocess

    from PIL import Image

    elsewhere = repo_voices_fake / "elsewhere" / "deep"
    (elsewhere / "art").mkdir(parents=True)
    (elsewhere / "takes").mkdir()
    Image.new("RGB", (64, 64), (10, 90, 40)).save(elsewhere / "art" / "c.png")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=2",
                    str(elsewhere / "rain.wav")], check=True)
    (elsewhere / "mine.yaml").write_text(
        "title: Old title\nauthor: Sam\ncover: art/c.png\nrecordings: takes\n"
        "background:\n  music: {file: rain.wav, level: -30dB}\n"
        "steps:\n  - title: A\n    background:\n      music:\n        file: rain.wav\n    cues: [Hello.]\n",
        encoding="utf-8")
    made = invoke("new", "copy", "--from", str(elsewhere / "mine.yaml"))
    assert made.exit_code == 0, made.output
    dest = repo_voices_fake / "scripts" / "copy.yaml"
    copy = parse_script(dest, script_id="copy")
    assert copy.title == "Copy" and copy.author == "Sam"  # a user's own credit is kept
    assert copy.cover is not None and copy.cover.resolve() == (elsewhere / "art" / "c.png").resolve()
    assert copy.recordings is not None and copy.recordings.resolve() == (elsewhere / "takes").resolve()
    assert yaml.safe_load(dest.read_text(encoding="utf-8"))["background"]["music"]["file"] == \
           "../elsewhere/deep/rain.wav"
    assert invoke("validate", str(dest)).exit_code == 0  # the music files (both) are found from scripts/


def test_new_rejects_bad_names_and_sources(repo_voices_fake: Path) -> None:
    bad = invoke("new", "../escape")
    assert bad.exit_code == 2 and "cannot name a script" in bad.output
    unknown = invoke("new", "x", "--from", "legs-up-the-wal")
    assert unknown.exit_code == 2 and "did you mean 'legs-up-the-wall'?" in unknown.output
    assert not (repo_voices_fake / "scripts" / "x.yaml").exists()


# --- schema -------------------------------------------------------------------------------


def validator() -> jsonschema.Draft202012Validator:
    schema = build_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_command_prints_the_committed_copy() -> None:
    printed = invoke("schema")
    assert printed.exit_code == 0
    assert json.loads(printed.output) == build_schema()
    assert (REPO / "scripts" / SCHEMA_FILE).read_text(encoding="utf-8") == schema_json(), \
        "scripts/cue-script.schema.json is stale: run `legsup schema -o scripts/cue-script.schema.json`"


@pytest.mark.parametrize("path", BUILTIN_SCRIPTS + sorted((REPO / "tests/golden/scripts").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_schema_accepts_builtin_and_golden_scripts(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(validator().iter_errors(data)) == []


def test_builtins_use_breathe_and_background() -> None:
    keys = {k for p in BUILTIN_SCRIPTS for s in yaml.safe_load(p.read_text(encoding="utf-8"))["steps"] for k in s}
    tops = {k for p in BUILTIN_SCRIPTS for k in yaml.safe_load(p.read_text(encoding="utf-8"))}
    assert "breathe" in keys and "background" in tops | keys  # the schema is checked against both


@pytest.mark.parametrize("path", [p for p in BROKEN if p.stem not in NOT_SCHEMA_LEVEL], ids=lambda p: p.stem)
def test_schema_rejects_broken_fixtures(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(validator().iter_errors(data)), f"{path.name} should not pass the schema"


def test_excluded_fixtures_exist() -> None:
    stems = {p.stem for p in BROKEN}
    assert set(NOT_SCHEMA_LEVEL) <= stems  # no stale exclusions


@pytest.mark.parametrize("snippet", [
    "tittle: x", "gap: 2x", "gap: -2s", "lead_in: [1]", "language: 'e s'", "background: {drone: {note: A2, level: 3dB}}",
])
def test_schema_rejects_script_level_mistakes(snippet: str) -> None:
    data = yaml.safe_load(f"title: T\nsteps: [{{title: A, cues: [Hi.]}}]\n{snippet}\n")
    assert list(validator().iter_errors(data))


@pytest.mark.parametrize("block", [
    "{pattern: 4-6}", "{pattern: 4-6, cycles: 3, for: 1m}", "{pattern: 4-6, cycles: 0}",
    "{pattern: 4-6, cycles: 3, guide: hum}", "{pattern: 4-6, cycles: 3, guide: tone, voice_cycles: 2}",
])
def test_schema_rejects_bad_breathe_blocks(block: str) -> None:
    data = yaml.safe_load(f"title: T\nsteps:\n  - title: A\n    breathe: {block}\n")
    assert list(validator().iter_errors(data))


DURATION_SAMPLES = ["1.5s", "90s", "2m", "1m30s", "250ms", "1h", "1:30", "1:02:30", "12", "0.5", " 2m ", "1H",
                    "2x", "-2s", "5 minutes", "1:75", "m", "", "1.2.3s", "abc", "1:2:3", ".5s", "3 s", "1m 30s"]


@pytest.mark.parametrize("text", DURATION_SAMPLES)
def test_schema_duration_pattern_agrees_with_the_parser(text: str) -> None:
    try:
        parse_duration(text)
        parses = True
    except ValueError:
        parses = False
    assert (re.match(_DURATION_TEXT, text) is not None) == parses


# --- suggestions ------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_misspelt_key_voice_and_step_id_suggestions(fake_workdir: Path) -> None:
    write(fake_workdir, "typo.yaml", "title: T\nvocie: calm\nsteps:\n  - title: A\n    duraton: 1m\n"
                                     "    cues:\n      - sya: Hi.\n")
    result = invoke("validate", "typo.yaml")
    assert result.exit_code == 2
    assert "typo.yaml:2:1: unknown key 'vocie' in the script (did you mean 'voice'?)" in result.output
    assert "typo.yaml:5:5: unknown key 'duraton' in step 1 (did you mean 'duration'?)" in result.output
    assert "typo.yaml:7:9: unknown key 'sya' in a cue (did you mean 'say'?)" in result.output
    write(fake_workdir, "voice.yaml", "title: T\nvoice: clam\nsteps: [{title: A, cues: [Hi.]}]\n")
    result = invoke("validate", "voice.yaml")
    assert "voice.yaml:2:8: unknown voice profile 'clam' (did you mean 'calm'?)" in result.output
    write(fake_workdir, "ids.yaml", "title: T\nsteps:\n  - {title: Breathing, cues: [Hi.]}\n"
                                    "  - {title: Rest, cues: [Bye.]}\n")
    played = invoke("play", "ids.yaml", "--from", "breathng")
    assert played.exit_code == 2 and "no step 'breathng' (did you mean 'breathing'?)" in played.output


def test_voices_try_suggests_profiles(fake_workdir: Path) -> None:
    result = invoke("voices", "try", "calmm")
    assert result.exit_code == 2 and "no voice profile named 'calmm' (did you mean 'calm'?)" in result.output


# --- warnings -----------------------------------------------------------------------------


def test_warnings_are_printed_and_do_not_fail(fake_workdir: Path) -> None:
    long_text = "Rest here and let the wall hold your legs. " * 11  # over 400 characters
    write(fake_workdir, "odd.yaml", f"""title: Odd
steps:
  - title: One
    cues:
      - Hello.
  - title: Two
    cues:
      - {long_text.strip()}
  - title: Three
    cues:
      - Settle.
      - pause: 40m
""")
    result = invoke("validate", "odd.yaml")
    assert result.exit_code == 0, result.output
    text = result.output  # stdout and stderr together
    assert re.search(r"odd\.yaml:8:9: warning: this cue is \d+ characters long \(over 400\)", text)
    assert "odd.yaml:12:9: warning: a pause of 40 minutes in step 'three'" in text
    assert "if you meant 40s, write 40s" in text and "e.g. 40s" not in text
    assert "step 'three' lasts" not in text, "the pause is the one cause: one warning, not two"
    assert "odd.yaml: ok (3 steps" in text


def test_no_warnings_for_ordinary_scripts(fake_workdir: Path) -> None:
    write(fake_workdir, "fine.yaml", "title: Fine\nsteps:\n  - {title: A, cues: [Hi., pause: 30s]}\n"
                                     "  - {title: B, cues: [There., pause: 20s]}\n  - {title: C, cues: [Bye., pause: 15s]}\n")
    result = invoke("validate", "fine.yaml")
    assert result.exit_code == 0 and "warning" not in result.output


REST_SCRIPT = """title: Rest
steps:
  - title: Arrive
    cues:
      - Lie down beside the wall.
  - title: Legs up
    cues:
      - Bring your legs up the wall.
  - title: Rest
    {rest}
"""


@pytest.mark.parametrize("rest", ["cues: [Now rest., pause: 5m30s, Slowly come back.]",
                                  "cues: [Now rest., pause: 20m, Slowly come back.]",
                                  "duration: 25m\n    cues: [Now rest.]",
                                  "cues: [Now rest., pause: 1500, Slowly come back.]"])
def test_minutes_of_rest_are_not_suspicious(fake_workdir: Path, rest: str) -> None:
    write(fake_workdir, "rest.yaml", REST_SCRIPT.format(rest=rest))
    result = invoke("validate", "rest.yaml")
    assert result.exit_code == 0 and "warning" not in result.output, result.output


@pytest.mark.parametrize(("rest", "advice", "not_said"), [
    ("cues: [Now rest., pause: 45m]", "if you meant 45s, write 45s", "e.g."),
    ("cues: [Now rest., pause: 2700]", "leave it as it is", "if you meant"),  # written in seconds: no unit to swap
    ("cues: [Now rest., pause: '45:00']", "if you meant 45 seconds, write 45s", "e.g."),
    ("cues: [Now rest., pause: 1h]", "if you meant 1m, write 1m", "e.g."),
])
def test_a_long_pause_gets_advice_from_what_was_written(fake_workdir: Path, rest: str, advice: str,
                                                         not_said: str) -> None:
    write(fake_workdir, "rest.yaml", REST_SCRIPT.format(rest=rest))
    result = invoke("validate", "rest.yaml")
    assert result.exit_code == 0
    [warning] = [line for line in result.output.splitlines() if "warning" in line]
    assert "rest.yaml:10:" in warning and advice in warning and not_said not in warning, warning


def test_a_long_step_says_what_makes_it_long_and_no_background_is_blamed(fake_workdir: Path) -> None:
    write(fake_workdir, "rest.yaml", REST_SCRIPT.format(rest="duration: 50m\n    cues: [Now rest.]"))
    result = invoke("validate", "rest.yaml")
    [warning] = [line for line in result.output.splitlines() if "warning" in line]
    assert "step 'rest' lasts 50:" in warning and "as its duration says (50:00" in warning
    assert "pause" not in warning and "background" not in warning and "loud" not in warning


def test_a_silent_voice_only_session_is_not_told_of_a_voice_or_a_background(fake_workdir: Path) -> None:
    write(fake_workdir, "quiet.yaml", "title: Quiet\nsteps:\n  - title: A\n    cues: [pause: 3s]\n"
                                      "  - title: B\n    cues: [pause: 2s]\n")
    checked = invoke("validate", "quiet.yaml")
    assert checked.exit_code == 0 and "warning" not in checked.output
    exported = invoke("export", "quiet.yaml", "-o", "quiet.wav")
    assert exported.exit_code == 0, exported.output
    [wrote] = [line for line in exported.stdout.splitlines() if line.startswith("wrote quiet.wav")]
    assert "no voice" in wrote and "voice at" not in wrote and "background" not in wrote


def test_warnings_alongside_errors_in_other_files(fake_workdir: Path) -> None:
    write(fake_workdir, "warn.yaml", "title: W\nsteps:\n  - title: A\n    cues:\n      - pause: 1h\n")
    write(fake_workdir, "bad.yaml", "title: B\nsteps: []\n")
    result = invoke("validate", "warn.yaml", "bad.yaml")
    assert result.exit_code == 2
    assert "warn.yaml:5:9: warning: a pause of 60 minutes" in result.output
    assert "bad.yaml:2:8: steps is empty" in result.output


# --- languages and voices -----------------------------------------------------------------


def test_language_picks_the_voice_profile(repo_voices_fake: Path) -> None:
    from legsup_audio.pipeline import load

    assert load("piernas-en-la-pared").voice == "es"
    assert load("piernas-en-la-pared").language == "es"
    write(repo_voices_fake, "fr.yaml", "title: F\nlanguage: fr\nsteps: [{title: A, cues: [Salut.]}]\n")
    with pytest.raises(ScriptError) as caught:
        load("fr.yaml")
    assert "fr.yaml:2:11: no voice profile speaks 'fr'" in str(caught.value)
    write(repo_voices_fake, "mixed.yaml", "title: M\nlanguage: es\nvoice: default\nsteps: [{title: A, cues: [Hola.]}]\n")
    result = invoke("validate", "mixed.yaml")
    assert result.exit_code == 0
    assert "mixed.yaml:3:8: warning: the script's language is 'es' but voice profile 'default' speaks 'en'" \
        in result.output


def test_voices_lists_profiles_by_language(repo_voices_fake: Path) -> None:
    result = invoke("voices", "--profiles-only")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if re.match(r"^│ (en|es) ", line)]
    assert [row.split("│")[1].strip() for row in rows] == sorted(row.split("│")[1].strip() for row in rows)
    assert any("│ es " in row and "roa/es" in row for row in rows)


def test_voices_try_writes_a_file(fake_workdir: Path) -> None:
    result = invoke("voices", "try", "calm", "Hello there.", "-o", "sample.wav")
    assert result.exit_code == 0, result.output
    import wave

    with wave.open(str(fake_workdir / "sample.wav")) as w:
        assert w.getnframes() > w.getframerate() * 1  # 0.3 s lead-in + speech + 0.7 s tail
    bad = invoke("voices", "try", "calm", "-o", "sample.flac")
    assert bad.exit_code == 2 and "cannot tell the format" in bad.output


class SpyEngine(SpeechEngine):
    """The fake engine, remembering every voice id it was asked to speak with."""

    def __init__(self) -> None:
        from legsup_audio.speech.fake import FakeEngine

        self.inner = FakeEngine()
        self.id = "spy"
        self.voices_used: set[str] = set()

    def version(self) -> str:
        return "1"

    def voices(self):  # noqa: ANN201
        return self.inner.voices()

    def synthesize(self, text, options):  # noqa: ANN001, ANN201
        self.voices_used.add(options.voice)
        return self.inner.synthesize(text, options)

    def close(self) -> None:
        pass


def test_spanish_session_exports_with_a_spanish_voice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from legsup_audio.output.export import export_session
    from legsup_audio.pipeline import build
    from legsup_audio.speech.cache import ClipCache

    monkeypatch.setenv("LEGSUP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    spy = SpyEngine()
    session = build("piernas-en-la-pared", engine=spy, cache=ClipCache(tmp_path / "cache"))  # the real profile
    assert session.profile.name == "es" and session.profile.language == "es"
    assert spy.voices_used == {"roa/es"}
    assert session.timeline.voice == "es"
    result = export_session(session, tmp_path / "es.wav", fmt="wav", sidecars=False)
    assert result.path.stat().st_size > 44


@pytest.mark.e2e
def test_spanish_timeline_with_the_real_engine(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "legsup_audio", "timeline", "piernas-en-la-pared", "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["voice"] == "es" and 600 < data["duration"] < 840
    from legsup_audio.speech.pyttsx3_engine import Pyttsx3Engine

    engine = Pyttsx3Engine()
    try:
        languages = {v.id: v.languages for v in engine.voices()}
    finally:
        engine.close()
    assert languages["roa/es"][0].startswith("es")


# --- measured lengths of the ready-made variants ----------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("name, low, high", [
    ("legs-up-the-wall-short", 5 * 60, 7 * 60), ("legs-up-the-wall-long", 23 * 60, 27 * 60),
    ("legs-up-the-wall-chair", 9 * 60, 16 * 60), ("piernas-en-la-pared", 10 * 60, 14 * 60),
])
def test_variant_lengths_with_the_real_engine(tmp_path: Path, name: str, low: int, high: int) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "LEGSUP_CACHE_DIR": os.environ["LEGSUP_E2E_CACHE"]}  # shared: see conftest
    run = subprocess.run([sys.executable, "-m", "legsup_audio", "validate", name], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "warning" not in run.stderr, run.stderr
    timeline = subprocess.run([sys.executable, "-m", "legsup_audio", "timeline", name, "--json"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
    assert low <= json.loads(timeline.stdout)["duration"] <= high


@pytest.mark.e2e
def test_unknown_espeak_voice_id_is_an_error_with_a_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "typo.yaml").write_text("engine: espeak\nvoice: roa/ess\nrate: 140\nvolume: 0.9\n"
                                                   "language: es\n", encoding="utf-8")
    monkeypatch.setenv("LEGSUP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    result = invoke("voices", "try", "typo", "Hola.", "-o", "x.wav")
    assert result.exit_code == 1
    assert "espeak-ng has no voice 'roa/ess' (did you mean 'roa/es'?)" in result.output
    assert not (tmp_path / "x.wav").exists()
