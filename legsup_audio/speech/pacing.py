"""Pacing written in a cue's text: inline pauses and "...", split out before speaking.

Owns the inline pause syntax.  A cue may write a pause where it wants one, as a
duration in square brackets (``Let your arms rest. [2s] Now breathe.``; ``[1.5s]``,
``[800ms]`` and ``[pause 2s]`` work too), and ``...`` (or ``…``) means a short pause
whose length the voice profile sets (``ellipsis_pause``).  Piper drops "..."
and runs the next word on, so without this it would vanish.  The speak stage
speaks each piece on its own and puts exactly these silences between them; any
other bracketed text is left in the text as it is.
"""

from __future__ import annotations

import re

#: ``[2s]``, ``[1.5 s]``, ``[800ms]``, ``[pause 2s]``; at most MAX_PAUSE_MS each.
PAUSE = re.compile(r"\[\s*(?:pause\s+)?(\d{1,3}(?:\.\d{1,3})?)\s*(ms|s)\s*\]", re.IGNORECASE)
ELLIPSIS = re.compile(r"\s*(?:\.\.\.+|…)\s*")
MAX_PAUSE_MS = 60_000

Piece = str | int  # text to speak, or a pause in ms


def pieces(text: str, ellipsis_pause_ms: int = 0) -> list[Piece]:
    """``text`` as the texts to speak and the pauses between them, in order.

    A "..." at the very end of the text adds no pause (the cue's gap follows it);
    with ``ellipsis_pause_ms`` 0, "..." is left in the text for the engine.
    """
    found: list[Piece] = []
    tokens = PAUSE.split(text)  # text, number, unit, text, number, unit, ..., text
    for i in range(0, len(tokens), 3):
        part = tokens[i]
        if ellipsis_pause_ms > 0:
            part = ELLIPSIS.sub(" ... ", part)
            if i == len(tokens) - 1:
                part = part.rstrip().removesuffix("...")  # a trailing "..." is the cue's gap
            for j, chunk in enumerate(part.split("...")):
                if j:
                    found.append(ellipsis_pause_ms)
                found.append(chunk)
        else:
            found.append(part)
        if i + 2 < len(tokens):
            number, unit = float(tokens[i + 1]), tokens[i + 2].lower()
            found.append(min(MAX_PAUSE_MS, round(number * (1 if unit == "ms" else 1000))))
    out: list[Piece] = []
    for piece in found:
        if isinstance(piece, str):
            if words := " ".join(piece.split()):
                out.append(words)
        elif out and isinstance(out[-1], int):
            out[-1] += piece
        elif piece:
            out.append(piece)
    return out


def display(text: str) -> str:
    """The text as a listener reads it in captions: inline pauses left out."""
    return " ".join(PAUSE.sub(" ", text).split())
