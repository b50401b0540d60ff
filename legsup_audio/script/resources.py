"""Finding built-in and user cue scripts and voice profiles.

Owns the lookup rules: the built-ins ship inside the wheel (``_builtin/``, put
there by the build from the repository's ``scripts/`` and ``voices/``) and are
read from the repository itself in a source checkout; a user's own files live in
``scripts/`` and ``voices/`` under the current folder.  A SCRIPT argument is a
path when it names a file, else the name of a built-in or user script.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import legsup_audio
from legsup_audio.errors import UsageError

#: The package's folder, from the package itself (not from this module's file, which
#: may sit in a subpackage).
PACKAGE_DIR = Path(legsup_audio.__file__).resolve().parent
DEFAULT_SCRIPT = "legs-up-the-wall"
YAML_SUFFIXES = (".yaml", ".yml")


def builtin_dir(kind: str) -> Path:
    """Where the built-in ``scripts`` or ``voices`` are, installed or in a checkout."""
    for candidate in (PACKAGE_DIR / "_builtin" / kind, PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR / "_builtin" / kind  # missing: lists come out empty


def user_dir(kind: str, cwd: Path | None = None) -> Path:
    return (cwd or Path.cwd()) / kind


@dataclass(frozen=True, slots=True)
class Found:
    """A script or voice file and where it came from."""

    name: str
    path: Path
    origin: str  # "built-in" or "user"


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())


def available(kind: str, cwd: Path | None = None) -> list[Found]:
    """Built-ins first, then the user's own; a user file shadows a built-in of the same name."""
    found: dict[str, Found] = {}
    builtin = builtin_dir(kind)
    for path in _yaml_files(builtin):
        found[path.stem] = Found(path.stem, path, "built-in")
    user = user_dir(kind, cwd)
    if user.resolve() != builtin.resolve():
        for path in _yaml_files(user):
            found[path.stem] = Found(path.stem, path, "user")
    return sorted(found.values(), key=lambda f: (f.origin != "built-in", f.name))


def resolve_script(arg: str | None, cwd: Path | None = None) -> Found:
    """The script a SCRIPT argument means; the default session when None."""
    name = arg or DEFAULT_SCRIPT
    path = Path(name)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name past the file system's limit, a NUL: not a file, so maybe a name
        is_file = False
    if path.suffix in YAML_SUFFIXES or is_file or "/" in name:
        return Found(path.stem, path, "path")
    scripts = {f.name: f for f in available("scripts", cwd)}
    if name in scripts:
        return scripts[name]
    from legsup_audio.script.suggest import suggest

    names = ", ".join(sorted(scripts)) or "none found"
    raise UsageError(
        f"no script named '{name}'{suggest(name, scripts)}: give a path to a .yaml file or one of: {names}"
    )
