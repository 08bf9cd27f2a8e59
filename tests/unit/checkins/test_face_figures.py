"""The published face figures ship in the package and are internally consistent."""

from __future__ import annotations

import math

import pytest

from openatd.checkins.face import DEFAULT_THRESHOLD
from openatd.checkins.face_figures import load_face_figures, rate_rows


def test_figures_ship_with_the_package_and_match_the_product() -> None:
    figures = load_face_figures()
    assert figures["product_threshold"] == pytest.approx(DEFAULT_THRESHOLD)
    # The product threshold is at or above the one chosen on the tune half (never laxer).
    assert figures["threshold"] - 1e-9 <= DEFAULT_THRESHOLD
    assert figures["enrolment_photos"] == 3
    assert figures["limits"] and all(isinstance(line, str) for line in figures["limits"])
    assert figures["latency_ms"]["lfw_250px"]["p95"] > 0


def test_every_rate_is_k_of_n_inside_its_wilson_interval() -> None:
    rows = rate_rows(load_face_figures())
    groups = {row.group for row in rows}
    assert {"all people", "women", "men"} <= groups
    assert len(rows) >= 3 * 4
    for row in rows:
        assert 0 <= row.k <= row.n
        assert row.low_percent <= row.high_percent <= 100.0
        if row.n:
            assert row.percent is not None
            assert row.low_percent - 1e-9 <= row.percent <= row.high_percent + 1e-9
            assert math.isclose(row.percent, 100.0 * row.k / row.n)
        if row.k == 0 and row.n:
            assert row.low_percent == 0.0 and row.high_percent > 0.0


def test_wilson_interval_matches_a_worked_value() -> None:
    """Wilson 95 % for 0 of 693 is [0, 0.551 %] (Brown, Cai & DasGupta 2001, eq. 4:
    upper = z² / (n + z²) for k = 0)."""
    rows = [r for r in rate_rows(load_face_figures()) if r.k == 0 and r.n]
    assert rows
    z = 1.959964
    for row in rows:
        assert row.high_percent == pytest.approx(100.0 * z * z / (row.n + z * z), abs=1e-3)
