#!/usr/bin/env bash
# Write requirements/lock.txt: the exact, hashed set of every Python package scripts/setup.sh
# installs (mjray's dependencies with its sim, test and dev extras), for CPython 3.11 on x86_64
# Linux, the kind of machine the set-up and CI run on. The ranges stay in pyproject.toml.
#
#   bash scripts/lock.sh                                 # add what pyproject.toml now asks for, keep every other pin
#   bash scripts/lock.sh --upgrade                       # every package to its newest release
#   bash scripts/lock.sh --upgrade-package opencv-python # just that one (repeatable)
#
# Then `bash scripts/setup.sh` installs the new set and `.venv/bin/python -m pytest` tests it.
# The resolver is uv, from the dev extra in .venv (UV=/path/to/uv to use another).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
[ -x "$UV" ] || command -v "$UV" >/dev/null || { echo "lock: no uv at $UV: run bash scripts/setup.sh first, or set UV" >&2; exit 2; }
"$UV" pip compile pyproject.toml --extra sim --extra test --extra dev \
  --constraint requirements/pins.txt --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --custom-compile-command "bash scripts/lock.sh" \
  --output-file requirements/lock.txt --quiet "$@"
