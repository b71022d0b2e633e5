#!/usr/bin/env bash
# First prove a plain install (no extras) works (scripts/check-plain-install.sh); then install Bastion with its
# dev tools, make sure PostgreSQL and Redis are up, lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BASTION_SKIP_PLAIN_INSTALL:-}" != 1 ]; then
  bash scripts/check-plain-install.sh
fi
EXTRAS=dev source scripts/venv.sh
# the numba kernels compiled on the second core meanwhile (scripts/warm-numba.sh; a cache only, never a failure)
bash scripts/warm-numba.sh > "${TMPDIR:-/tmp}/bastion-warm-numba.log" 2>&1 &
warm_pid=$!
trap 'kill "$warm_pid" 2>/dev/null || true' EXIT
bash scripts/ensure-services.sh
bash scripts/ensure-chromium.sh  # the browser tests (tests/web) drive Debian's Chromium
export BASTION_TEST_POSTGRES_URL=${BASTION_TEST_POSTGRES_URL:-postgresql+psycopg://postgres:postgres@127.0.0.1:5432/bastion_test}
export BASTION_TEST_REDIS_URL=${BASTION_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
echo "== ruff";   ruff check src tests bench
echo "== mypy";   mypy
echo "== pytest"; pytest -q --durations=25 "$@"  # the slowest tests printed: the suite must stay well under CI's 20 minutes
