"""Lets ``python -m legsup_audio`` behave exactly like the ``legsup`` command."""

from legsup_audio.cli import main

if __name__ == "__main__":
    main()
