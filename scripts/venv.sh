# Puts Bastion's `bastion` command on your PATH: creates .venv (once), installs Bastion into it from
# pyproject.toml (again whenever pyproject.toml changes), then prepends .venv/bin to PATH.
#
#   source scripts/venv.sh           # from bash or zsh, in the repository or anywhere else
#   EXTRAS=dev source scripts/venv.sh   # with the test tools
#
# Safe to source from your own shell: the install runs in a subshell, so your shell options (set -e...) and
# your current directory are left as they were; a failed install returns non-zero without closing the shell.
# demo.sh and test.sh source it too.

if [ -n "${BASH_VERSION:-}" ]; then
  _bastion_src=${BASH_SOURCE[0]}
elif [ -n "${ZSH_VERSION:-}" ]; then
  eval '_bastion_src=${(%):-%x}'
else
  _bastion_src=$0
fi
_bastion_root=$(cd "$(dirname "$_bastion_src")/.." && pwd)

_bastion_install() (
  set -euo pipefail
  cd "$1"
  PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
  venv="$1/.venv"
  stamp="$venv/.installed${EXTRAS:+-$EXTRAS}"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Bastion needs Python 3.11 or newer"'
    "$PYTHON" -m venv "$venv"
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "venv: installing Bastion${EXTRAS:+ with [$EXTRAS]} into $venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
    touch "$stamp"
  fi
)

if _bastion_install "$_bastion_root"; then
  case ":$PATH:" in
    *":$_bastion_root/.venv/bin:"*) ;;
    *) export PATH="$_bastion_root/.venv/bin:$PATH" ;;
  esac
  export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$_bastion_root/.venv/numba-cache}
  unset -f _bastion_install
  unset _bastion_src _bastion_root
else
  _bastion_status=$?
  echo "venv: installing Bastion into $_bastion_root/.venv failed (exit $_bastion_status)" >&2
  unset -f _bastion_install
  unset _bastion_src _bastion_root
  # shellcheck disable=SC2317  # `return` when sourced, `exit` when run
  return "$_bastion_status" 2>/dev/null || exit "$_bastion_status"
fi
