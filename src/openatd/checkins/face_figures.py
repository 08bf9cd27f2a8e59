"""The published accuracy, fairness and latency figures of the face check-in.

``face_figures.json`` (next to this module, shipped in the package) is written by
``bench/face.py --write-figures`` on the shared labelled faces; docs/face.md explains how
and states the limits of the sets. Programs and participants can read the figures in the
web app; this module loads them for any page or API and turns them into short rows.

Every rate is ``{"k": errors, "n": trials, "rate": k/n, "ci95": [low, high]}`` with a
95 % Wilson score interval (Wilson, JASA 22 (1927) 209-212).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from openatd.errors import ConfigurationError

FIGURES_FILE = "face_figures.json"

#: What each published rate means, in the words shown to programs and participants.
RATE_LABELS = {
    "genuine_review": "genuine check-ins sent to a person's review",
    "impostor_verified": "someone else's photo verified",
    "retake": "genuine photos asked to retake",
}


@dataclass(frozen=True, slots=True)
class RateRow:
    """One published rate for display: a group, what was counted, k of n and its interval.

    ``percent``, ``low_percent`` and ``high_percent`` are percentages (0..100).
    """

    group: str
    people: int
    measure: str
    label: str
    k: int
    n: int
    percent: float | None
    low_percent: float
    high_percent: float


def load_face_figures() -> dict[str, Any]:
    """The figures shipped with the package, as written by ``bench/face.py``.

    Returns:
        The JSON object: ``threshold``, ``overall``, ``groups``, ``ratios``,
        ``latency_ms``, ``retake_before_after``, ``variants``, ``limits`` and the command.

    Raises:
        ConfigurationError: the file is missing or malformed (a packaging fault).
    """
    try:
        text = resources.files("openatd.checkins").joinpath(FIGURES_FILE).read_text("utf-8")
        figures = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"face figures {FIGURES_FILE} unreadable: {exc}") from exc
    missing = [
        key
        for key in ("threshold", "overall", "groups", "ratios", "latency_ms", "limits")
        if key not in figures
    ]
    if not isinstance(figures, dict) or missing:
        raise ConfigurationError(f"face figures {FIGURES_FILE} lack {missing}")
    return figures


def rate_rows(figures: dict[str, Any]) -> list[RateRow]:
    """Flatten ``overall`` and ``groups`` into display rows, overall first.

    Raises:
        ConfigurationError: a rate without k, n or ci95.
    """
    rows: list[RateRow] = []
    sources: list[tuple[str, int, dict[str, Any]]] = [
        ("all people", int(figures.get("people", {}).get("test", 0)), figures["overall"])
    ]
    sources += [(g["group"], int(g["people"]), g) for g in figures["groups"]]
    for group, people, values in sources:
        for measure, label in RATE_LABELS.items():
            rate = values.get(measure)
            if rate is None:
                continue
            try:
                k, n, (low, high) = int(rate["k"]), int(rate["n"]), rate["ci95"]
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigurationError(f"face figures: bad rate {group}/{measure}") from exc
            rows.append(
                RateRow(
                    group=group,
                    people=people,
                    measure=measure,
                    label=label,
                    k=k,
                    n=n,
                    percent=100.0 * k / n if n else None,
                    low_percent=100.0 * float(low),
                    high_percent=100.0 * float(high),
                )
            )
    return rows
