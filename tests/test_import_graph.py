"""The package's import graph: no circles, no stage importing a later one (tools/import_graph.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_no_import_circles_and_stages_import_only_earlier_ones() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "import_graph.py")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no circles, no stage imports a later one" in result.stdout


def test_the_check_finds_a_circle_and_a_later_stage(tmp_path: Path) -> None:
    package = tmp_path / "legsup_audio"
    (package / "script").mkdir(parents=True)
    (package / "render").mkdir()
    (package / "__init__.py").write_text("")
    (package / "script" / "__init__.py").write_text("")
    (package / "render" / "__init__.py").write_text("")
    (package / "script" / "a.py").write_text("def f():\n    from legsup_audio.render import b\n")
    (package / "render" / "b.py").write_text("from legsup_audio.script.a import f\n")
    result = subprocess.run([sys.executable, str(REPO / "tools" / "import_graph.py"), str(package)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "circle: legsup_audio.render.b, legsup_audio.script.a" in result.stdout
    assert "later stage: legsup_audio.script.a (stage 1) imports legsup_audio.render.b (stage 4)" in result.stdout
