"""Near-miss suggestions for messages: `` (did you mean 'x'?)``.

A leaf: it imports nothing from the package, so the speech engine, the voice profiles
and the resource lookup can suggest a name without loading the parser.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection


def suggest(word: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
