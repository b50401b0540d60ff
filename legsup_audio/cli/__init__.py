"""The ``legsup`` command: a thin typer layer over the library.

``main`` is the console script's entry point (``legsup_audio.cli:main``) and ``app``
the typer application; the commands themselves live in the modules of this package.
"""

from legsup_audio.cli.commands import app, main

__all__ = ["app", "main"]
