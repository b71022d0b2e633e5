#!/usr/bin/env bash
# Make sure Debian's Chromium is installed at /usr/bin/chromium: the browser the web-page tests drive
# (through Playwright, with executable_path=/usr/bin/chromium) and the PDF report renders with.
# Idempotent: where it is already installed this only checks. Playwright's own browser download is never
# used (it fetches a build from outside the package registries).
set -euo pipefail

CHROMIUM=${BASTION_CHROMIUM:-/usr/bin/chromium}

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: installing Chromium from Debian's packages"
  sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq chromium >/dev/null
fi
[ -x "$CHROMIUM" ] || { echo "ensure-chromium: $CHROMIUM is missing after install" >&2; exit 1; }
echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
