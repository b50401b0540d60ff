"""The files a cue script makes a run read: the script itself, its cover, its music.

Owns listing them, so that no output of the same run can be written over one
(``output.files.check_target``).  A block that reads files of its own lists them
with an ``input_files()`` method (the way ``spoken_texts()`` lists its texts), and
music layers name theirs in their ``file`` parameter.  It reads nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from legsup_audio.model import CueScript


def _from_block(block: Any) -> Iterator[Path]:
    if block is None:
        return
    if callable(listed := getattr(block, "input_files", None)):
        yield from (Path(p) for p in listed())
    for _, spec in getattr(block, "layers", ()) or ():
        if spec is not None and (name := dict(getattr(spec, "params", ())).get("file")):
            yield Path(name)


def input_files(script: CueScript) -> list[Path]:
    """Every file the script makes a run read, the script first, without repeats."""
    found: dict[Path, None] = {script.path: None}
    if script.cover is not None:
        found.setdefault(script.cover, None)
    blocks = [block for _, block in script.extras]
    blocks += [block for step in script.steps for _, block in step.extras]
    for block in blocks:
        for path in _from_block(block):
            found.setdefault(path, None)
    return list(found)
