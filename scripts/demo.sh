#!/usr/bin/env bash
# The main job: install Bastion into .venv and run the end-to-end demo on embedded defaults (output: demo-out/
# in the repository, or the directory given as the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
bash scripts/ensure-chromium.sh  # the monthly report's PDF is printed by headless Chromium
exec bastion demo --out "${1:-demo-out}"
