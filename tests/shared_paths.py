"""Where the shared real data lives; imported by ``conftest.py`` and by tests that
parametrise over shared files at collection time (``from shared_paths import shared_root``).

The one place ``../shared`` is resolved (override with ``OPENATD_SHARED_DATA``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """The shared folder (``../shared`` from the repository root)."""
    data = os.environ.get("OPENATD_SHARED_DATA")
    if data:
        return Path(data).resolve().parent
    return (ROOT.parent / "shared").resolve()


class SharedData:
    """Paths into ``../shared/data`` and ``../shared/scenarios`` that fail loudly when missing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.scenarios = root / "scenarios"

    def path(self, *parts: str) -> Path:
        p = self.data.joinpath(*parts)
        if not p.exists():
            pytest.fail(f"shared test data missing: {p}")
        return p

    def scenario_files(self) -> list[Path]:
        if not self.scenarios.is_dir():
            pytest.fail(f"shared scenarios missing: {self.scenarios}")
        return sorted(self.scenarios.glob("*.json"))
