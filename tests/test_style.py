"""The house's habits, checked on every test run: ruff's lint rules and format (pyproject.toml), the docs site."""

import re
import subprocess
import sys

from tests.lockfile import ROOT


def test_the_code_passes_the_linter():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "mjray", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_code_is_formatted():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "mjray", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, "run .venv/bin/ruff format: " + result.stdout[-4000:] + result.stderr[-2000:]


def test_the_docs_build_strictly_and_the_readme_stays_short_with_links_that_resolve(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200, "a newcomer reads the README in five minutes: the rest goes to docs/"
    targets = [t for t in re.findall(r"\]\(([^)#]+)", readme) if "://" not in t]
    assert targets and all((ROOT / t).exists() for t in targets), [t for t in targets if not (ROOT / t).exists()]
