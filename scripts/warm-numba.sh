#!/usr/bin/env bash
# Compile the proof system's numba kernels into NUMBA_CACHE_DIR once, by proving and verifying a tiny round and an
# example AIR. A clean clone starts with an empty cache, and compiling costs about 3 minutes of one core; the
# test script runs this on the second core while lint, type checks and the first (database) tests run on the
# first, so the proof tests later load compiled kernels instead of compiling them. Only a cache: any failure
# here is ignored by the caller (the tests then compile what they need themselves).
set -euo pipefail
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
bastion sim liabilities --out snapshot --users 50 --assets 4
bastion por prove snapshot --out round
bastion por verify round
bastion stark example --air fibonacci --log-rows 10
