#!/usr/bin/env bash
# Operating-system programs the platform and its tests use, installed when missing:
#   pdfsig (poppler-utils)   independent check of sealed PDFs in the tests
#   /usr/bin/chromium        the headless browser of the end-to-end tests (tests/e2e/),
#                            driven by Playwright from uv.lock; never `playwright install`
# Everything else (PostgreSQL, Redis, fonts, Python packages) comes from uv.lock.
# Safe to run again: nothing is installed when every program is present.
set -euo pipefail

missing=()
command -v pdfsig >/dev/null 2>&1 || missing+=(poppler-utils)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "Please install: ${missing[*]} (needs root)" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Please install: ${missing[*]} with your system's package manager" >&2
  exit 1
fi
