#!/usr/bin/env bash
# The main job: install Bastion into .venv and run the end-to-end demo on embedded defaults.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
bash "$(dirname "$0")/ensure-chromium.sh"  # the monthly report's PDF is printed by headless Chromium
exec bastion demo --out "${1:-demo-out}"
