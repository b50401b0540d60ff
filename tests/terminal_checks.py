"""Running a command in a pseudo-terminal for the tests of the live display.

``TTY_DRIVER`` is a Python program that runs its arguments as a command and then
says how it ended and whether the terminal's settings were left as they were found
(a display that puts the terminal in raw mode must restore it, even on Ctrl-C).
"""

TTY_DRIVER = (
    "import subprocess, sys, termios\n"
    "before = termios.tcgetattr(0)\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "after = termios.tcgetattr(0)\n"
    "print('EXIT', code, 'RESTORED' if before == after else 'CHANGED')\n"
)
