"""Tools the tests take from the npm registry (TypeScript, axe-core), installed with
the machine's ``npm`` into a cache directory shared by runs.

Each package is pinned to one version and installed once into
``$KLATCH_TEST_TOOLS/<name>-<version>`` (default ``~/.cache/klatch-test-tools``);
later runs reuse it without asking the registry. Without ``npm`` (or without a
registry), the tests that need a tool skip with the reason, or fail under
``KLATCH_REQUIRE_SERVICES=1`` as a missing database does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

from support import REQUIRE_SERVICES

TYPESCRIPT = ("typescript", "7.0.2")
# The last compiler written in TypeScript, which most projects still build with.
TYPESCRIPT_5 = ("typescript", "5.9.3")
AXE_CORE = ("axe-core", "4.14.1")
TOOLS_DIR = Path(
    os.environ.get("KLATCH_TEST_TOOLS", Path.home() / ".cache" / "klatch-test-tools")
).expanduser()


def npm_package(package: tuple[str, str]) -> Path:
    """The installed package's directory (``…/node_modules/<name>``), installed if needed."""
    name, version = package
    prefix = TOOLS_DIR / f"{name}-{version}"
    installed = prefix / "node_modules" / name
    if (installed / "package.json").exists():
        return installed
    npm = shutil.which("npm")
    if npm is None:
        _unavailable(f"{name}@{version} is needed from the npm registry, and npm is not installed")
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    # Installed beside, then moved into place: a run that stops half-way (or a
    # second run at the same time) never leaves a half-installed package behind.
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=TOOLS_DIR))
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--no-save",
             "--loglevel=error", f"{name}@{version}"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            _unavailable(f"npm install {name}@{version} failed:\n{done.stderr[-2000:]}")
        try:
            staging.rename(prefix)
        except OSError:  # another run put it there first
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return installed


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_SERVICES:
        pytest.fail(f"KLATCH_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)
