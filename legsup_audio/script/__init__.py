"""Stage 1, the script: reading a cue script (YAML) into a typed ``CueScript``.

Also owns what a script refers to by name (built-in scripts, voice profiles, languages),
its JSON schema, its lint warnings and the scaffold for a new one.  Imports only the
shared leaves; this ``__init__`` imports nothing, so a leaf module of this package can be
imported without loading the parser.
"""
