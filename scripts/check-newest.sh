#!/usr/bin/env bash
# Find a breaking release on purpose, not by a red CI: set up .venv-newest against the newest
# releases pyproject.toml allows (what a user installing mjray into their own environment gets),
# say which packages moved from requirements/lock.txt, and run the fast tests there.
#
#   bash scripts/check-newest.sh                 # extra arguments go to pytest
#
# Exit status: pytest's. A package that moved and broke a test is the one to hold back in
# pyproject.toml or to adapt to; once the tests pass, `bash scripts/lock.sh --upgrade` moves the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-newest}
bash scripts/setup.sh --newest --venv "$VENV"
echo "check-newest: packages that differ from requirements/lock.txt"
"$VENV/bin/python" -m tests.lockfile
echo "check-newest: the fast tests on the newest releases"
exec "$VENV/bin/python" -m pytest -m "not slow" -p no:cacheprovider "$@"
