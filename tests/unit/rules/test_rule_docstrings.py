"""The runnable examples in the rules' and zones' docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "openatd.domain.geodesy",
    "openatd.domain.zones",
    "openatd.domain.schedules",
    "openatd.rules.zone",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
