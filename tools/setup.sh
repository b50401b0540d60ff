#!/usr/bin/env bash
# Sets up everything legsup-audio needs on a Debian or Ubuntu machine, then runs one job.
#
#   tools/setup.sh export [ARGS...]   install, then `legsup export ARGS` (default session -> output/)
#   tools/setup.sh test [PYTEST ARGS] install, then run the whole test suite
#   tools/setup.sh                    install only
#
# System packages come from apt (with sudo when not root), and only when one is missing.
# Python packages go into the active virtual environment, or into ./.venv when none is active.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

# espeak-ng: the speech engine; ffmpeg: encoding and the tests' independent checks;
# libasound2-dev, build-essential, python3-dev: simpleaudio builds from source against ALSA;
# python3-venv: a virtual environment on Debian's Python; fonts-dejavu-core: cover art text
# and the timeline page's screenshots; chromium: the browser the page's tests drive (through
# Playwright, pointed at /usr/bin/chromium: Playwright's own browser downloads are never used).
APT_PACKAGES=(espeak-ng ffmpeg libasound2-dev build-essential python3-dev python3-venv fonts-dejavu-core chromium)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: apt-get not found; install these yourself: ${missing[*]}" >&2
    exit 1
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: run as root or install sudo (needed for: ${missing[*]})" >&2; exit 1; }
    sudo=(sudo)
  fi
  say "installing system packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_env() {
  if [ -n "${VIRTUAL_ENV:-}" ]; then
    PY="$VIRTUAL_ENV/bin/python"
  else
    if [ ! -x .venv/bin/python ]; then
      local base="${PYTHON:-python3}"
      "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        echo "setup: legsup-audio needs Python 3.11 or newer ($base is $("$base" --version 2>&1))" >&2; exit 1; }
      say "creating a virtual environment in .venv"
      "$base" -m venv .venv
    fi
    PY="$here/.venv/bin/python"
  fi
  say "installing legsup-audio and its Python dependencies"
  "$PY" -m pip install --disable-pip-version-check -q --upgrade pip >/dev/null
  "$PY" -m pip install --disable-pip-version-check -q -e ".[play,test]"
  # An editable install compiles nothing, and with PYTHONDONTWRITEBYTECODE set every run would
  # compile the package again (a quarter of a second before play or export can start).
  "$PY" -m compileall -q legsup_audio >/dev/null
}

job="${1:-}"
[ $# -gt 0 ] && shift
install_system_packages
python_env

case "$job" in
  export)
    say "exporting the session"
    exec "$PY" -m legsup_audio export "$@"
    ;;
  test)
    say "running the tests"
    exec "$PY" -m pytest "$@"
    ;;
  "")
    say "ready: run $(dirname "$PY")/legsup --help"
    ;;
  *)
    echo "setup: unknown job '$job' (use: export, test, or nothing)" >&2
    exit 2
    ;;
esac
