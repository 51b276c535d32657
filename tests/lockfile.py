"""The lock read back: what requirements/lock.txt pins, and what the running environment has instead.

The tests use it to tell whether they run on the locked set (where byte-exact checks hold);
scripts/check-newest.sh prints which packages moved (`python -m tests.lockfile`), and
scripts/setup.sh removes what a reused venv holds beyond the lock (`--not-in-lock`).
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
PINS = ROOT / "requirements" / "pins.txt"
NOT_LOCKED = {"mjray", "pip", "wheel"}  # the project itself and the installer that brings the rest
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def read_pins(path: Path = LOCK) -> dict[str, str]:
    """Canonical name -> version of every `name==version` line of a requirements file."""
    return {canonicalize_name(name): version for name, version in _PIN.findall(path.read_text())}


def installed() -> dict[str, str]:
    """Canonical name -> version of each distribution, the first on sys.path where one shadows another."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        found.setdefault(canonicalize_name(dist.metadata["Name"]), dist.version)
    return found


def moved(lock: dict[str, str], have: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """name -> (locked, installed) for each package not at its locked version; None where absent."""
    names = (lock.keys() | have.keys()) - NOT_LOCKED
    return {n: (lock.get(n), have.get(n)) for n in sorted(names) if lock.get(n) != have.get(n)}


def off_lock(only: set[str] | None = None) -> list[str]:
    """The locked packages (or those of `only`) this environment has at another version or not at all."""
    return [
        f"{name} {want} (locked) is {have or 'not installed'}"
        for name, (want, have) in moved(read_pins(), installed()).items()
        if want is not None and (only is None or name in only)
    ]


def not_in_lock() -> list[str]:
    """The installed packages the lock does not name (but the project and the installer)."""
    return [name for name, (want, _) in moved(read_pins(), installed()).items() if want is None]


def main(argv: list[str]) -> int:
    if argv == ["--not-in-lock"]:
        print(" ".join(not_in_lock()))
        return 0
    changes = moved(read_pins(), installed())
    if not changes:
        print(f"every package at its version in {LOCK.relative_to(ROOT)}")
        return 0
    width = max(map(len, changes))
    print(f"{'package':<{width}}  {'locked':>14}  {'here':>14}")
    for name, (want, have) in changes.items():
        print(f"{name:<{width}}  {want or '-':>14}  {have or '-':>14}")
    pairs = changes.values()
    print(
        f"{sum(bool(w and h) for w, h in pairs)} moved, {sum(not w for w, _ in pairs)} not in the lock, "
        f"{sum(not h for _, h in pairs)} locked but not here"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
