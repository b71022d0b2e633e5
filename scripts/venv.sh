#!/usr/bin/env bash
# Create .venv (once) and install Bastion into it from pyproject.toml (again whenever pyproject.toml changes).
# Sourced by demo.sh and test.sh; EXTRAS selects optional dependency groups.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
EXTRAS=${EXTRAS:-}
venv="$root/.venv"
stamp="$venv/.installed${EXTRAS:+-$EXTRAS}"
if [ ! -x "$venv/bin/python" ]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Bastion needs Python 3.11 or newer"'
  "$PYTHON" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "venv: installing Bastion${EXTRAS:+ with [$EXTRAS]} into .venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$venv/numba-cache}
