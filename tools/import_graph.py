#!/usr/bin/env python3
"""Checks the import graph of ``legsup_audio``: no circles, and no stage importing a later one.

Reads every module of the package with ``ast`` (nothing is imported or run) and takes an
edge for every import in it: at the top, inside functions and under ``TYPE_CHECKING``
alike, since a circle through a lazy import is still a circle.  ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg``.

The stages, in pipeline order (a module may import its own stage and earlier ones):

    0 shared leaves  legsup_audio (the package), errors, units, model, checkpoint, dsp,
                     output.files (the one atomic writer, used by every stage that writes)
    1 script         2 speech   3 compile   4 render   5 pipeline
    6 progressive (the pipeline run while it speaks, for play)
    7 output         8 share    9 playback  10 cli      11 __main__

Prints each circle (a strongly connected component, with its edges) and each import of a
later stage, then a summary line; exits 1 when there is any, else 0.

    python tools/import_graph.py [PACKAGE_DIR]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "legsup_audio"
LEAVES = ("errors", "units", "model", "checkpoint", "dsp", "output.files")
STAGES = ("script", "speech", "compile", "render", "pipeline", "progressive", "output", "share", "playback", "cli", "__main__")


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if origin.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                out.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin)
    return {m for m in out if m in known and m != name} | ({name} & out)


def stage(name: str) -> int:
    """The module's stage number (see the module docstring)."""
    parts = name.split(".")
    if len(parts) == 1 or ".".join(parts[1:]) in LEAVES:
        return 0
    if parts[1] not in STAGES:
        raise SystemExit(f"import_graph: {name} is in no stage; add its folder to STAGES or LEAVES")
    return STAGES.index(parts[1]) + 1


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm (the package is small: recursion is fine)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / PACKAGE
    known = modules(root)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    problems = 0
    for component in circles(graph):
        problems += 1
        members = set(component)
        edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in members]
        print(f"circle: {', '.join(component)}\n    " + "\n    ".join(edges))
    for name in sorted(graph):
        for target in sorted(graph[name]):
            if stage(target) > stage(name):
                problems += 1
                print(f"later stage: {name} (stage {stage(name)}) imports {target} (stage {stage(target)})")
    edges = sum(len(targets) for targets in graph.values())
    print(f"{len(graph)} modules, {edges} imports: "
          + ("no circles, no stage imports a later one" if not problems else f"{problems} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
