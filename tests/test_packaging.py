"""The package as a user gets it: the wheel carries the built-ins, the console script runs.

Builds the wheel, installs it into a folder outside the repository, and runs it
from a folder with no ``scripts/`` or ``voices/`` of its own: the built-in
session and voice profiles must still be found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp / "dist").glob("legsup_audio-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "legsup_audio/_builtin/scripts/legs-up-the-wall.yaml" in names
    assert "legsup_audio/_builtin/voices/default.yaml" in names
    assert "legsup_audio/py.typed" in names
    assert "legsup_audio/output/page/template.html" in names  # the timeline page's template, as package data
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "LEGSUP_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "legsup_audio", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_wheel_finds_builtins_outside_the_repo(installed: Path, tmp_path: Path) -> None:
    where = run_installed(installed, tmp_path, "--version")
    assert where.returncode == 0 and where.stdout.startswith("legsup ")
    probe = subprocess.run([sys.executable, "-c", "import legsup_audio; print(legsup_audio.__file__)"],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)},
                           capture_output=True, text=True, check=True)
    assert probe.stdout.startswith(str(installed))  # really the wheel, not the checkout
    listed = run_installed(installed, tmp_path, "scripts")
    assert listed.returncode == 0, listed.stderr
    assert "legs-up-the-wall" in listed.stdout and "built-in" in listed.stdout
    timeline = run_installed(installed, tmp_path, "timeline", "--json")
    assert timeline.returncode == 0, timeline.stderr
    assert json.loads(timeline.stdout)["title"] == "Legs Up the Wall"
    page = run_installed(installed, tmp_path, "timeline", "--html", "draft.html")
    assert page.returncode == 0, page.stderr
    assert "Legs Up the Wall" in (tmp_path / "draft.html").read_text(encoding="utf-8")


def test_console_script_runs() -> None:
    legsup = Path(sys.executable).with_name("legsup")
    assert legsup.exists(), "the legsup console script is not installed in this environment"
    result = subprocess.run([str(legsup), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("export", "timeline", "validate", "scripts", "voices"):
        assert command in result.stdout
