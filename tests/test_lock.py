"""The lock stays the set pyproject.toml asks for, and says what moved (scripts/lock.sh writes it)."""

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.lockfile import LOCK, PINS, ROOT, moved, read_pins


def project_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]


@pytest.mark.parametrize("line", project_requirements())
def test_the_lock_pins_every_requirement_of_pyproject_within_its_range(line):
    requirement, lock = Requirement(line), read_pins()
    name = canonicalize_name(requirement.name)
    assert name in lock, f"{requirement.name} is in pyproject.toml but not in {LOCK.name}: run bash scripts/lock.sh"
    version = Version(lock[name])
    assert requirement.specifier.contains(version, prereleases=True), (
        f"{LOCK.name} pins {requirement.name} {version}, outside pyproject.toml's '{requirement.specifier}': "
        "run bash scripts/lock.sh"
    )


def test_the_lock_keeps_the_pins_and_hashes_every_package():
    lock, pins = read_pins(), read_pins(PINS)
    assert pins and all(lock[name] == version for name, version in pins.items())
    text = LOCK.read_text()
    pinned = [line for line in text.splitlines() if "==" in line and not line.startswith("#")]
    assert len(pinned) == len(lock) > 100, "one pin a package"
    assert all(line.endswith("\\") for line in pinned), "each pin is followed by its hashes"
    assert text.count("--hash=sha256:") >= len(lock)


def test_moved_names_the_changed_the_new_and_the_gone_but_not_the_project_or_installer():
    lock = {"numpy": "2.4.6", "opencv-python": "5.0.0.93", "ray": "2.60.0"}
    have = {"numpy": "2.4.6", "opencv-python": "5.1.0.95", "rich": "14.0", "mjray": "0.1.0", "pip": "25.3"}
    assert moved(lock, have) == {
        "opencv-python": ("5.0.0.93", "5.1.0.95"),
        "ray": ("2.60.0", None),
        "rich": (None, "14.0"),
    }
    assert moved(lock, dict(lock)) == {}
