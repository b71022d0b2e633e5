#!/usr/bin/env bash
# The main job: install Bastion into .venv and run the end-to-end demo on embedded defaults.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
exec bastion demo --out "${1:-demo-out}"
