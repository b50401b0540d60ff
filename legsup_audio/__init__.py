"""legsup-audio: voice-guided body-and-breath sessions from cue scripts.

The package is a small compiler: a cue script (YAML) is parsed into a typed
``CueScript``, compiled into a ``Timeline`` of exactly timed events, spoken by a
speech engine, rendered into PCM blocks and either exported or played.  The
``legsup`` command in :mod:`legsup_audio.cli` is a thin layer over these stages.
"""

from __future__ import annotations

__version__ = "0.1.0"
