"""Fixtures shared by the whole suite.

``shared_data`` is the one place the real captured data under ``../shared/data``
is resolved (override with ``OPENATD_SHARED_DATA``); it is never copied into the
project. A test that needs a missing file fails naming the path.
"""

from __future__ import annotations

import pytest

from shared_paths import ROOT, SharedData, shared_root

__all__ = ["ROOT", "SharedData", "shared_root"]


@pytest.fixture(scope="session")
def shared_data() -> SharedData:
    """The shared real data (device frames, traces, faces, cases)."""
    return SharedData(shared_root())
