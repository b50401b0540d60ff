"""Near-miss suggestions for messages: `` (did you mean 'x'?)``.

A leaf: it imports nothing from the package, so the speech engine, the voice profiles
and the resource lookup can suggest a name without loading the parser.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn ``a`` into ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def closest(word: str, choices: Collection[str]) -> str | None:
    """The choice ``word`` most likely misspells: a close match, a typo of one or two edits
    (``clam`` for ``calm``), or the only choice that starts with its first three letters."""
    names = list(choices)
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = word.lower()
    scored = sorted((_distance(lowered, name.lower()), name) for name in names)
    if scored and scored[0][0] <= max(1, len(word) // 3):
        return scored[0][1]
    if len(lowered) >= 3:
        starts = [name for name in names if name.lower().startswith(lowered[:3])]
        if len(starts) == 1:
            return starts[0]
    return None


def suggest(word: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, or an empty string."""
    found = closest(word, choices)
    return f" (did you mean '{found}'?)" if found else ""
