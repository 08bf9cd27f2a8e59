"""Trial building and rates for bench/face.py: identity split, enrolment trials, Wilson
intervals. Pure numpy, no model: bench/face.py feeds it the product's templates.

Definitions used throughout (ISO/IEC 19795-1 vocabulary, in the product's words):

* *genuine sent to review* — a genuine trial (probe and enrolment of the same person, the
  probe passed the quality gate) whose fused score is below the threshold (FNMR);
* *impostor verified* — an impostor trial (probe of another person) at or above it (FMR);
* *asked to retake* — a photo of the person that the quality gate refuses (failure to
  acquire); it is never scored.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95 % by default) for k successes in n trials, as fractions.

    Source: E. B. Wilson, "Probable inference, the law of succession, and statistical
    inference", JASA 22 (1927) 209-212; the form in Brown, Cai & DasGupta, Statistical
    Science 16 (2001) eq. (4). Returns (0, 0) for n = 0.
    """
    if n == 0:
        return 0.0, 0.0
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """k of n, with its 95 % Wilson interval."""

    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def text(self) -> str:
        if not self.n:
            return "n/a"
        low, high = self.interval
        return f"{100 * self.rate:6.3f}% ({self.k}/{self.n}) [{100 * low:.3f}-{100 * high:.3f}]"

    def as_json(self) -> dict[str, object]:
        low, high = self.interval
        return {
            "k": self.k,
            "n": self.n,
            "rate": round(self.rate, 6) if self.n else None,
            "ci95": [round(low, 6), round(high, 6)],
        }


def split_identities(
    identities: Sequence[tuple[str, str, str]],
) -> dict[str, str]:
    """Split identities into two halves, ``tune`` and ``test``, stratified by stratum.

    *identities* are ``(key, stratum, name)``; within each stratum (e.g. dataset, gender
    and race label) identities are ordered by the SHA-256 of their name and dealt out
    alternately, the alternation carrying over from one stratum to the next so that
    single-person strata are shared out too. Deterministic: the same input always gives
    the same split.
    """
    by_stratum: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, stratum, name in identities:
        by_stratum[stratum].append((hashlib.sha256(name.encode()).hexdigest(), key))
    halves: dict[str, str] = {}
    turn = 0
    for stratum in sorted(by_stratum):
        for _, key in sorted(by_stratum[stratum]):
            halves[key] = "tune" if turn % 2 == 0 else "test"
            turn += 1
    return halves


@dataclass
class Trials:
    """Fused scores of genuine and impostor trials, with the identity of each trial.

    ``genuine_owner[i]`` is the index (into the identity list) of genuine trial i;
    ``impostor_owner`` / ``impostor_prober`` give the enrolled and the probing identity.
    """

    genuine: Scores
    genuine_owner: npt.NDArray[np.intp]
    impostor: Scores
    impostor_owner: npt.NDArray[np.intp]
    impostor_prober: npt.NDArray[np.intp]

    def subset(self, member: npt.NDArray[np.bool_]) -> Trials:
        """Trials of the identities in *member*: genuine of those people, impostor trials
        whose enrolled *and* probing person are both members (demographic-matched
        impostors, the harder case)."""
        g = member[self.genuine_owner]
        i = member[self.impostor_owner] & member[self.impostor_prober]
        return Trials(
            self.genuine[g],
            self.genuine_owner[g],
            self.impostor[i],
            self.impostor_owner[i],
            self.impostor_prober[i],
        )

    def review(self, threshold: float) -> Rate:
        """Genuine trials below *threshold* (sent to review)."""
        return Rate(int(np.count_nonzero(self.genuine < threshold)), int(self.genuine.size))

    def accepted(self, threshold: float) -> Rate:
        """Impostor trials at or above *threshold* (verified)."""
        return Rate(int(np.count_nonzero(self.impostor >= threshold)), int(self.impostor.size))


Fuse = Callable[[Scores], Scores]


def fuse_rows(scores: Scores, fusion: str) -> Scores:
    """Combine per-template scores along the last axis: ``mean`` or ``max``."""
    return np.asarray(scores.max(axis=-1) if fusion == "max" else scores.mean(axis=-1))


def enrolment_trials(
    similarity: Scores,
    owner: npt.NDArray[np.intp],
    enrol_count: int,
    fusion: str,
) -> Trials:
    """Genuine and impostor trials with *enrol_count*-photo enrolment.

    Args:
        similarity: (n, n) score matrix between n photos that passed the gate (cosine for
            one recogniser, or an already fused matrix).
        owner: (n,) identity index of each photo; photos of one identity in file order.
        enrol_count: photos per enrolment.
        fusion: how the enrolment's per-template scores combine (``mean`` or ``max``).

    Genuine: for each identity with at least ``enrol_count + 1`` photos, each of its photos
    in turn is the probe and the first ``enrol_count`` of the *others* are the enrolment.
    Impostor: each identity with at least ``enrol_count`` photos is enrolled with its first
    ``enrol_count`` photos and probed with every photo of every other identity given.
    """
    photos_of: dict[int, list[int]] = defaultdict(list)
    for index, who in enumerate(owner):
        photos_of[int(who)].append(index)
    genuine: list[float] = []
    genuine_owner: list[int] = []
    impostor: list[Scores] = []
    impostor_owner: list[npt.NDArray[np.intp]] = []
    impostor_prober: list[npt.NDArray[np.intp]] = []
    for who, indices in photos_of.items():
        if len(indices) >= enrol_count + 1:
            for probe in indices:
                enrolled = [i for i in indices if i != probe][:enrol_count]
                genuine.append(float(fuse_rows(similarity[probe, enrolled], fusion)))
                genuine_owner.append(who)
        if len(indices) >= enrol_count:
            enrolled = indices[:enrol_count]
            others = np.flatnonzero(owner != who)
            impostor.append(fuse_rows(similarity[np.ix_(others, enrolled)], fusion))
            impostor_owner.append(np.full(others.size, who, dtype=np.intp))
            impostor_prober.append(owner[others].astype(np.intp))
    return Trials(
        np.asarray(genuine, dtype=np.float64),
        np.asarray(genuine_owner, dtype=np.intp),
        np.concatenate(impostor) if impostor else np.zeros(0),
        np.concatenate(impostor_owner) if impostor else np.zeros(0, dtype=np.intp),
        np.concatenate(impostor_prober) if impostor else np.zeros(0, dtype=np.intp),
    )


def threshold_at_fmr(impostor: Scores, target: float) -> float:
    """Smallest threshold whose impostor acceptance (score ≥ threshold) is ≤ *target*,
    rounded up to 3 decimals (the precision the product is configured with)."""
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(target * ordered.size))
    if allowed >= ordered.size:
        return -1.0
    exact = float(np.nextafter(ordered[allowed], np.inf))
    return math.ceil(exact * 1000.0) / 1000.0
