"""Every rule scenario — the shared contract set and the project's own — passes the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from openatd.rules.scenario import check_scenario, load_scenario
from shared_paths import shared_root

SHARED = sorted((shared_root() / "scenarios").glob("*.json"))
OWN = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.json"))


def test_scenario_sets_are_present() -> None:
    assert len(SHARED) >= 32, f"shared scenarios missing under {shared_root() / 'scenarios'}"
    assert len(OWN) >= 11


@pytest.mark.parametrize("path", SHARED + OWN, ids=lambda p: p.name)
def test_scenario(path: Path) -> None:
    scenario = load_scenario(path)
    result = check_scenario(scenario)
    assert result.ok, f"{path.name}:\n" + "\n".join(result.problems)
    # Every alert a scenario expects is raised, and only those ("exactly" in every file).
    assert scenario.exactly
    assert len(result.alerts) == len(scenario.expected)
    for alert in result.alerts:
        assert "violation" not in alert.explanation.lower()
        expected_category = (
            "compliance"
            if alert.type.value in ("inclusion_zone_exit", "exclusion_zone_entry", "strap_tamper")
            else "technical"
        )
        assert alert.category.value == expected_category
