#!/usr/bin/env bash
# Proves that a plain `pip install .` (no extras) is enough to run Bastion: installs the package into a fresh,
# separate virtual environment (.ci-venv), imports every module of the installed package, and runs the command
# (`bastion --help`, a few subcommands' help, `bastion db upgrade` on a scratch SQLite file, which needs the
# packaged migrations, and a small simulated month through the running service). A module imported under src/ but only declared in the dev extras fails here.
# scripts/test.sh runs it first; BASTION_SKIP_PLAIN_INSTALL=1 skips it (a developer's quick rerun).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
venv="$root/.ci-venv"
started=$(date +%s)

rm -rf "$venv"
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "$root"  # not editable: what a user gets, package data included

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Nothing from the developer's environment: no src/ on the path, no BASTION_* settings.
clean_env=(env -i "HOME=$HOME" "PATH=$venv/bin:/usr/bin:/bin" "NUMBA_CACHE_DIR=$scratch/numba" "LANG=C.UTF-8")

(cd "$scratch" && "${clean_env[@]}" "$venv/bin/python" - <<'PY'
import importlib
import pathlib

import bastion

root = pathlib.Path(bastion.__file__).parent
assert "site-packages" in str(root), f"bastion imported from {root}, not from the installed package"
names = []
for path in sorted(root.rglob("*.py")):
    rel = path.relative_to(root)
    if rel.parts[:2] == ("db", "migrations"):
        continue  # Alembic scripts, loaded by `bastion db upgrade` below
    parts = ("bastion", *rel.with_suffix("").parts)
    names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
for name in names:
    importlib.import_module(name)
print(f"check-plain-install: imported {len(names)} modules of {root}")
PY
)
(cd "$scratch" && "${clean_env[@]}" bash -c '
  set -euo pipefail
  bastion --help >/dev/null
  for cmd in "por --help" "keys --help" "risk --help" "funds --help" "report monthly --help" "serve --help"; do
    bastion $cmd >/dev/null
  done
  bastion db upgrade --database-url "sqlite:///$PWD/plain.sqlite" >/dev/null 2>&1 || bastion db upgrade --database-url "sqlite:///$PWD/plain.sqlite"
  bastion risk metrics --month 2026-01 --database-url "sqlite:///$PWD/plain.sqlite" >/dev/null 2>&1
  # The running service, end to end (what the demo does first): dependencies needed only at run time, such as
  # SQLAlchemy asyncio'"'"'s greenlet, fail here, not on a user'"'"'s machine.
  bastion sim month --month 2026-01 --users 20 --out "$PWD/month" >/dev/null 2>"$PWD/month.err" || { cat "$PWD/month.err" >&2; exit 1; }
')
echo "check-plain-install: plain install, imports and commands OK in $(( $(date +%s) - started )) s"
