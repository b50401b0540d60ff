"""Limits on what one cue script may ask for, tuned here and nowhere else.

Every limit sits far above any real session.  They exist so that a broken or
hostile file (a huge blob, a typo like ``cycles: 80000``, 10,000 nested
brackets) fails at once with a ``FILE:LINE:COL`` message instead of exhausting
memory, time or the Python stack.  The parser and the compiler enforce them;
only the session length can be changed by the user (``--max-length``).
"""

from __future__ import annotations

#: The longest session compiled unless ``--max-length`` says otherwise: 4 hours is
#: twice the longest guided rest anyone asked for, and a session is rendered into
#: memory-bounded blocks but still costs real time to speak, render and encode.
DEFAULT_MAX_LENGTH_MS = 4 * 3_600_000

#: Read at most this much of a script file, checked before parsing.  Real scripts
#: are a few KB (the longest built-in is under 10 KB); PyYAML's pure-Python composer
#: reads about 1 MB a second, so this keeps even a hostile file to a couple of seconds.
MAX_FILE_BYTES = 2_000_000

#: Cues (text, ``say``, ``pause``, ``at``) in one script.  A 4-hour session with a
#: cue every 3 seconds has 4,800; each distinct text is one speech-engine call
#: (a tenth of a second to a second with espeak-ng), so 5,000 already means minutes
#: of speaking before the first sound.
MAX_CUES = 5_000

#: Characters in one piece of text (a cue, a title).  The linter warns from 400
#: (hard to follow with eyes closed); 2,000 is about two minutes of speech in one
#: breath, and past it a cue is almost surely a pasted document.
MAX_TEXT_CHARS = 2_000

#: Nesting of YAML lists and mappings.  The deepest real structure (script ->
#: background -> bells -> at list) is 5 levels; PyYAML composes nodes recursively,
#: so thousands of nested brackets would overflow the Python stack.
MAX_DEPTH = 20

#: Cycles in one ``breathe:`` block.  10,000 breaths of the quick 4-6 pattern last
#: 28 hours; each cycle becomes up to 4 phase events plus guide cues in memory,
#: so a count above this is a typo that would otherwise hang the compiler.
MAX_BREATHE_CYCLES = 10_000
