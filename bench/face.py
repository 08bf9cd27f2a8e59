"""Face check-in on the shared labelled faces: genuine people sent to review or asked to
retake, impostors verified, per group with 95 % intervals, and latency on one core.

Run from the repository root::

    nice .venv/bin/python bench/face.py                 # the product's figures
    nice .venv/bin/python bench/face.py --compare       # plus the variants it was chosen from
    nice .venv/bin/python bench/face.py --write-figures src/openatd/checkins/face_figures.json

It reads ``faces/lfw_labels.csv`` + ``faces/lfw/`` (LFW, gender and race labels) and
``faces/orl/`` (AT&T/ORL) under the data folder (``--data``, else ``OPENATD_SHARED_DATA``,
else ``../shared/data`` next to the repository) and runs every photo through the
product's own path (:class:`OpenCVFaceVerifier`: decode → detect → choose the face →
quality gate → align → embed, with the mirror image) on ONE core.

Method (definitions in ``bench/face_trials.py``):

* identities are split in two halves, stratified by dataset, gender and race label; the
  **threshold is chosen on the ``tune`` half** (the smallest at which at most 0.1 % of
  impostor trials are verified, three-photo enrolment, LFW and ORL pooled) and **every
  figure is reported on the ``test`` half**, people the threshold never saw;
* three-photo enrolment: for each person with at least four usable photos, each photo in
  turn is the check-in and the first three of the others are enrolled; impostor trials
  probe each enrolled person with every photo of every other person of the same set and
  half (within a group: both people in the group);
* every photo is a genuine check-in attempt for the gate: the share refused is "asked to
  retake" (failure to acquire), before (the old size-only bystander rule) and after;
* latency: a full check-in (decode → gate → detect → embed → match against three
  templates; storing the record is the storage layer's cost) on the test half's LFW
  photos and on 12 MP phone-size JPEGs.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_trials import Rate, Trials, enrolment_trials, split_identities, threshold_at_fmr

from openatd.checkins.face import (
    DEFAULT_FUSION,
    DEFAULT_THRESHOLD,
    OpenCVFaceVerifier,
)
from openatd.checkins.quality import QualityCode, QualityGate, decode_image

ROOT = Path(__file__).resolve().parents[1]
TARGET_FMR = 1e-3
ENROL = 3
#: Second recogniser measured by ``--compare`` (dlib's ResNet, weights from the
#: face_recognition_models wheel); SHA-256 as shipped in face_recognition_models 0.3.0.
DLIB_FILES = {
    "shape_predictor_5_face_landmarks.dat": (
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
    ),
    "dlib_face_recognition_resnet_model_v1.dat": (
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
    ),
}


#: The limits of the sets, published with the figures (docs/face.md says more).
LIMITS = [
    "LFW is news photographs of mostly white adult public figures, not phone selfies;"
    " ORL is 40 mostly white men photographed in one lab.",
    "Race labels are identity-level, assigned by others and multi-label; the Black, Asian"
    " and Latino groups have a few dozen people or fewer, so their rates are a smoke test.",
    "Impostors are random other people of the same set (within a group: of the same"
    " group); a sibling or look-alike does better than these figures.",
    "The threshold was chosen on one half of the identities and every figure is for the"
    " other half; with a few hundred genuine trials per half, a rate of 0 errors means"
    " the true rate is below the upper end of its 95 % interval, not that it is zero.",
    "There is no liveness check: a photo of the participant's photo can pass. A mismatch"
    " goes to a person's review and never confirms anything by itself.",
]


@dataclass
class Photo:
    """One labelled photo and what the product's path made of it."""

    dataset: str
    identity: str
    path: Path
    data: bytes
    gender: str = ""
    races: tuple[str, ...] = ()
    code: QualityCode = QualityCode.OK
    before: QualityCode = QualityCode.OK
    vector: npt.NDArray[np.float32] | None = None
    variants: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    ignored_faces: int = 0
    box: tuple[float, float, float, float] | None = None
    half: str = ""

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.identity}"


def default_data() -> Path:
    env = os.environ.get("OPENATD_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def pin_one_core() -> str:
    """Run on one CPU core: OpenCV single-threaded and, where possible, process affinity."""
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cv2.setNumThreads(1), pinned to CPU {cpu}"
    return "cv2.setNumThreads(1)"


def load_photos(faces: Path) -> list[Photo]:
    photos: list[Photo] = []
    with (faces / "lfw_labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            path = faces / row["image"]
            races = tuple(r.strip() for r in row["race"].split(",") if r.strip())
            photos.append(
                Photo("LFW", row["identity"], path, path.read_bytes(), row["gender"], races)
            )
    for folder in sorted((faces / "orl").glob("s*"), key=lambda p: int(p.name[1:])):
        for pgm in sorted(folder.glob("*.pgm"), key=lambda p: int(p.stem)):
            # The product accepts JPEG/PNG only: re-encode the greyscale PGM losslessly.
            grey = cv2.imread(str(pgm), cv2.IMREAD_GRAYSCALE)
            if grey is None:
                raise SystemExit(f"cannot read {pgm}")
            ok, png = cv2.imencode(".png", grey)
            if not ok:
                raise SystemExit(f"cannot re-encode {pgm}")
            photos.append(Photo("ORL", folder.name, pgm, png.tobytes()))
    return photos


def assign_halves(photos: list[Photo]) -> None:
    strata = {p.key: f"{p.dataset}|{p.gender}|{','.join(sorted(p.races))}" for p in photos}
    halves = split_identities([(key, stratum, key) for key, stratum in strata.items()])
    for photo in photos:
        photo.half = halves[photo.key]


def subsample(photos: list[Photo], per_dataset: int) -> list[Photo]:
    """Keep the first *per_dataset* identities (by SHA-256 of the name) of each set."""
    keys = sorted(
        {(p.dataset, p.key) for p in photos},
        key=lambda k: hashlib.sha256(k[1].encode()).hexdigest(),
    )
    kept: set[str] = set()
    count: Counter[str] = Counter()
    for dataset, key in keys:
        if count[dataset] < per_dataset:
            kept.add(key)
            count[dataset] += 1
    return [p for p in photos if p.key in kept]


def run_gate(verifier: OpenCVFaceVerifier, before: OpenCVFaceVerifier, photos: list[Photo]) -> None:
    """The product's path on every photo; photos with two faces or more also go through
    the old rule (a second face at ≥ 0.8 × the eye distance, whatever its place)."""
    for photo in photos:
        probe = verifier.probe(photo.data)
        photo.code = probe.quality.code
        photo.before = photo.code
        photo.ignored_faces = probe.quality.ignored_faces
        if probe.template is not None:
            photo.vector = probe.template.vector
        if probe.face is not None:
            photo.box = (probe.face.x, probe.face.y, probe.face.width, probe.face.height)
        if probe.quality.faces_found >= 2:
            photo.before = before.probe(photo.data).quality.code


# -- trials ------------------------------------------------------------------------------


def similarity(photos: Sequence[Photo], variant: str = "") -> npt.NDArray[np.float64]:
    vectors = np.stack(
        [p.variants[variant] if variant else p.vector for p in photos]  # type: ignore[misc]
    ).astype(np.float64)
    return np.asarray(vectors @ vectors.T)


def trials_for(
    photos: Sequence[Photo], half: str, enrol: int, fusion: str, variant: str = ""
) -> tuple[Trials, list[list[Photo]]]:
    """Trials of one half, LFW and ORL each within itself, pooled; identity index order is
    the returned list of photo groups."""
    merged: list[Trials] = []
    people: list[list[Photo]] = []
    for dataset in ("LFW", "ORL"):
        usable = [
            p
            for p in photos
            if p.dataset == dataset
            and p.half == half
            and p.vector is not None
            and (not variant or variant in p.variants)
        ]
        if not usable:
            continue
        index: dict[str, int] = {}
        for p in usable:
            if p.key not in index:
                index[p.key] = len(people) + len(index)
        groups: dict[int, list[Photo]] = defaultdict(list)
        for p in usable:
            groups[index[p.key]].append(p)
        people.extend(groups[i] for i in sorted(groups))
        owner = np.array([index[p.key] for p in usable], dtype=np.intp)
        merged.append(enrolment_trials(similarity(usable, variant), owner, enrol, fusion))
    return (
        Trials(
            np.concatenate([t.genuine for t in merged]),
            np.concatenate([t.genuine_owner for t in merged]),
            np.concatenate([t.impostor for t in merged]),
            np.concatenate([t.impostor_owner for t in merged]),
            np.concatenate([t.impostor_prober for t in merged]),
        ),
        people,
    )


def groups_of(people: list[list[Photo]]) -> dict[str, npt.NDArray[np.bool_]]:
    """Membership masks over the identity index: sets, gender and race groups (LFW)."""
    first = [group[0] for group in people]
    masks: dict[str, npt.NDArray[np.bool_]] = {
        "LFW": np.array([p.dataset == "LFW" for p in first]),
        "ORL": np.array([p.dataset == "ORL" for p in first]),
        "women": np.array([p.gender == "F" for p in first]),
        "men": np.array([p.gender == "M" for p in first]),
    }
    for race in sorted({r for p in first for r in p.races}):
        masks[race] = np.array([race in p.races for p in first])
    masks["no race label"] = np.array([p.dataset == "LFW" and not p.races for p in first])
    return masks


def retake(photos: Sequence[Photo], *, before: bool = False) -> Rate:
    failed = sum(1 for p in photos if (p.before if before else p.code) is not QualityCode.OK)
    return Rate(failed, len(photos))


# -- reporting ---------------------------------------------------------------------------


def ratio(a: Rate, b: Rate) -> float | None:
    """a.rate / b.rate, or None when the denominator has no error."""
    if not a.n or not b.n or b.k == 0:
        return None
    return a.rate / b.rate


def ratio_text(value: float | None) -> str:
    return "n/a (no error in the lower group)" if value is None else f"{value:.2f}"


def print_gate(photos: list[Photo]) -> dict[str, Any]:
    print("\nQuality gate: genuine photos asked to retake (never scored), before → after")
    out: dict[str, Any] = {}
    for dataset in ("LFW", "ORL"):
        subset = [p for p in photos if p.dataset == dataset]
        was, now = retake(subset, before=True), retake(subset)
        counts = Counter(p.code.value for p in subset if p.code is not QualityCode.OK)
        ignored = sum(1 for p in subset if p.code is QualityCode.OK and p.ignored_faces)
        print(f"  {dataset}: before {was.text()}  →  after {now.text()}")
        print(
            f"    after, by reason: {dict(sorted(counts.items())) or 'none'};"
            f" {ignored} passed with another face ignored"
        )
        out[dataset] = {
            "before": was.as_json(),
            "after": now.as_json(),
            "reasons_after": dict(sorted(counts.items())),
            "passed_with_face_ignored": ignored,
        }
    return out


def group_table(
    trials: Trials,
    people: list[list[Photo]],
    photos: list[Photo],
    threshold: float,
    title: str,
) -> list[dict[str, Any]]:
    print(f"\n{title}")
    print(
        f"  {'group':14s} {'people':>6s}  {'genuine sent to review':>36s}"
        f"  {'impostors verified (within group)':>40s}  {'asked to retake':>34s}"
    )
    rows: list[dict[str, Any]] = []
    masks = groups_of(people)
    for name, member in masks.items():
        if not member.any():
            continue
        sub = trials.subset(member)
        keys = {people[i][0].key for i in np.flatnonzero(member)}
        shots = [p for p in photos if p.key in keys]
        review, accepted, asked = sub.review(threshold), sub.accepted(threshold), retake(shots)
        print(
            f"  {name:14s} {len(keys):6d}  {review.text():>36s}  {accepted.text():>40s}"
            f"  {asked.text():>34s}"
        )
        rows.append(
            {
                "group": name,
                "people": len(keys),
                "genuine_review": review.as_json(),
                "impostor_verified": accepted.as_json(),
                "retake": asked.as_json(),
            }
        )
    return rows


def fairness(rows: list[dict[str, Any]], min_people: int) -> dict[str, Any]:
    """Women/men and across-race ratios of the review and retake rates; race groups with
    fewer than *min_people* people are left out (their rates are noise)."""
    by = {row["group"]: row for row in rows}

    def rate(row: dict[str, Any], what: str) -> Rate:
        return Rate(row[what]["k"], row[what]["n"])

    out: dict[str, Any] = {}
    for what in ("genuine_review", "retake", "impostor_verified"):
        women, men = rate(by["women"], what), rate(by["men"], what)
        high, low = (women, men) if women.rate >= men.rate else (men, women)
        out[f"women_men_{what}"] = ratio(high, low)
        races = [
            row
            for name, row in by.items()
            if name not in ("LFW", "ORL", "women", "men", "no race label")
            and row["people"] >= min_people
        ]
        values = sorted((rate(r, what) for r in races), key=lambda r: r.rate)
        out[f"across_race_{what}"] = ratio(values[-1], values[0]) if len(values) >= 2 else None
        out["race_groups_compared"] = [r["group"] for r in races]
    return out


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    values = np.array(samples) * 1000.0
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50": round(float(p50), 1),
        "p95": round(float(p95), 1),
        "p99": round(float(p99), 1),
        "n": int(values.size),
    }


def phone_size(data: bytes) -> bytes:
    """The photo enlarged to a 12 MP portrait frame (3024 × 4032) as a phone JPEG."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit("cannot decode a probe")
    canvas = cv2.resize(image, (3024, 3024), interpolation=cv2.INTER_CUBIC)
    frame = cv2.copyMakeBorder(canvas, 504, 504, 0, 0, cv2.BORDER_REPLICATE)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise SystemExit("cannot encode phone-size JPEG")
    return bytes(jpeg.tobytes())


def latency(
    verifier: OpenCVFaceVerifier, photos: list[Photo], samples: int, phone_samples: int
) -> dict[str, Any]:
    """Full check-ins against three enrolled templates, one core."""
    by_identity: dict[str, list[Photo]] = defaultdict(list)
    for photo in photos:
        if photo.dataset == "LFW" and photo.half == "test" and photo.vector is not None:
            by_identity[photo.key].append(photo)
    cases = []
    for group in by_identity.values():
        for i, probe in enumerate(group):
            enrolled = [p for j, p in enumerate(group) if j != i][:ENROL]
            if len(enrolled) == ENROL:
                cases.append((enrolled, probe))
    chosen = cases[:: max(1, len(cases) // samples)][:samples]
    templates = {id(p): verifier.enroll(p.data) for enrolled, _ in chosen for p in enrolled}
    totals, cpu = [], []
    stages: dict[str, list[float]] = defaultdict(list)
    for enrolled, probe in chosen:
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = verifier.verify([templates[id(p)] for p in enrolled], probe.data)
        totals.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
        stages["decode"].append(result.timings.decode_s)
        stages["detect+gate+align"].append(result.timings.detect_s)
        stages["embed (and mirror)"].append(result.timings.embed_s)
        stages["match"].append(result.timings.match_s)
    small, small_cpu = percentiles(totals), percentiles(cpu)
    phone_totals, phone_cpu = [], []
    for enrolled, probe in chosen[:phone_samples]:
        data = phone_size(probe.data)
        started, started_cpu = time.perf_counter(), time.thread_time()
        verifier.verify([templates[id(p)] for p in enrolled], data)
        phone_totals.append(time.perf_counter() - started)
        phone_cpu.append(time.thread_time() - started_cpu)
    phone, phone_c = percentiles(phone_totals), percentiles(phone_cpu)
    print(
        "\nLatency of a full check-in against 3 templates (decode → gate → embed → match), one core"
    )
    print(
        f"  LFW 250×250 JPEG : p50 {small['p50']} ms  p95 {small['p95']} ms"
        f"  p99 {small['p99']} ms (n={small['n']})"
    )
    print(
        "    mean per stage: "
        + ", ".join(f"{k} {1000 * float(np.mean(v)):.1f} ms" for k, v in stages.items())
    )
    print(
        f"  12 MP 3024×4032 JPEG : p50 {phone['p50']} ms  p95 {phone['p95']} ms"
        f"  p99 {phone['p99']} ms (n={phone['n']})"
    )
    print(
        f"  CPU time of the check-in thread (what one core spends, whatever else runs):"
        f" 250 px p50 {small_cpu['p50']} ms p95 {small_cpu['p95']} ms;"
        f" 12 MP p50 {phone_c['p50']} ms p95 {phone_c['p95']} ms"
    )
    return {
        "lfw_250px": small,
        "phone_12mp": phone,
        "lfw_250px_cpu": small_cpu,
        "phone_12mp_cpu": phone_c,
    }


# -- variants (--compare) -----------------------------------------------------------------


def dlib_embedder() -> Any:
    """dlib's ResNet (face_recognition_models' weights, SHA-256 checked), or None."""
    try:
        import dlib  # type: ignore[import-not-found]
        import face_recognition_models  # type: ignore[import-not-found]
    except ImportError:
        return None
    folder = Path(face_recognition_models.__file__).parent / "models"
    for name, digest in DLIB_FILES.items():
        actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if actual != digest:
            raise SystemExit(f"{folder / name}: SHA-256 {actual}, expected {digest}")
    shapes = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(photo: Photo) -> tuple[npt.NDArray[np.float32], float]:
        assert photo.box is not None
        started = time.perf_counter()
        decoded = decode_image(photo.data, min_long_side_px=640)
        rgb = np.ascontiguousarray(decoded.pixels[:, :, ::-1])
        f = rgb.shape[1] / decoded.width
        x, y, w, h = (v * f for v in photo.box)
        shape = shapes(rgb, dlib.rectangle(int(x), int(y), int(x + w), int(y + h)))
        vector = np.asarray(net.compute_face_descriptor(rgb, shape), dtype=np.float32)
        return vector / np.linalg.norm(vector), time.perf_counter() - started

    return embed


def compare(photos: list[Photo], threshold_note: str) -> list[dict[str, Any]]:
    """Variants on the same photos: threshold from the tune half, figures on the test half."""
    plain = OpenCVFaceVerifier.from_installed_package(test_time_flip=False)
    for photo in photos:
        if photo.vector is not None:
            probe = plain.probe(photo.data)
            if probe.template is not None:
                photo.variants["plain"] = probe.template.vector
    embed = dlib_embedder()
    dlib_ms: list[float] = []
    if embed is None:
        print(
            "\n(dlib-bin / face_recognition_models not installed: second recogniser not measured)"
        )
    else:
        for photo in photos:
            if photo.vector is not None and photo.box is not None:
                vector, seconds = embed(photo)
                photo.variants["dlib"] = vector
                dlib_ms.append(seconds)
    configs: list[tuple[str, str, int, str]] = [
        ("SFace, 1 photo (before)", "plain", 1, "max"),
        ("SFace, 3 photos, max", "plain", 3, "max"),
        ("SFace, 3 photos, mean", "plain", 3, "mean"),
        ("SFace+mirror, 1 photo", "", 1, "max"),
        ("SFace+mirror, 3 photos, max", "", 3, "max"),
        ("SFace+mirror, 3 photos, mean (product)", "", 3, "mean"),
    ]
    if dlib_ms:
        configs.append(("dlib ResNet, 3 photos, mean", "dlib", 3, "mean"))
    rows = []
    print(f"\nVariants ({threshold_note}; figures on the test half)")
    for name, variant, enrol, fusion in configs:
        tune, _ = trials_for(photos, "tune", enrol, fusion, variant)
        test, people = trials_for(photos, "test", enrol, fusion, variant)
        t = threshold_at_fmr(tune.impostor, TARGET_FMR)
        masks = groups_of(people)
        women, men = test.subset(masks["women"]).review(t), test.subset(masks["men"]).review(t)
        print(
            f"  {name:40s} threshold {t:.3f}: review {test.review(t).text()}"
            f"  impostors {test.accepted(t).text()}"
            f"  women {100 * women.rate:.2f}% men {100 * men.rate:.2f}%"
        )
        rows.append(
            {
                "variant": name,
                "threshold": t,
                "genuine_review": test.review(t).as_json(),
                "impostor_verified": test.accepted(t).as_json(),
                "women_review": women.as_json(),
                "men_review": men.as_json(),
            }
        )
    if dlib_ms:
        # Score-level fusion: each recogniser's scores standardised by its tune-half
        # impostor mean and spread, then averaged with weight w on SFace.
        for weight in (0.5, 0.7):
            fused = fused_trials(photos, weight)
            if fused is None:
                continue
            tune, test, people = fused
            t = threshold_at_fmr(tune.impostor, TARGET_FMR)
            masks = groups_of(people)
            women, men = test.subset(masks["women"]).review(t), test.subset(masks["men"]).review(t)
            name = f"SFace+mirror ⊕ dlib (w={weight}), 3, mean"
            print(
                f"  {name:40s} threshold {t:.2f}σ: review {test.review(t).text()}"
                f"  impostors {test.accepted(t).text()}"
                f"  women {100 * women.rate:.2f}% men {100 * men.rate:.2f}%"
            )
            rows.append(
                {
                    "variant": name,
                    "threshold": t,
                    "genuine_review": test.review(t).as_json(),
                    "impostor_verified": test.accepted(t).as_json(),
                    "women_review": women.as_json(),
                    "men_review": men.as_json(),
                }
            )
        timing = percentiles(dlib_ms)
        print(
            "  dlib ResNet alone (5-point landmarks + descriptor), one core:"
            f" p50 {timing['p50']} ms,"
            f" p95 {timing['p95']} ms (n={timing['n']}), on top of the SFace path"
        )
        rows.append({"variant": "dlib ResNet latency per photo", "latency_ms": timing})
    return rows


def fused_trials(
    photos: list[Photo], weight: float
) -> tuple[Trials, Trials, list[list[Photo]]] | None:
    both = [p for p in photos if p.vector is not None and "dlib" in p.variants]
    stats: dict[str, tuple[float, float]] = {}
    for variant in ("", "dlib"):
        tune, _ = trials_for(both, "tune", ENROL, "mean", variant)
        stats[variant] = (float(tune.impostor.mean()), float(tune.impostor.std()))
    for p in both:
        assert p.vector is not None
        p.variants["_sface"] = p.vector
    out = []
    for half in ("tune", "test"):
        a, people = trials_for(both, half, ENROL, "mean", "_sface")
        b, _ = trials_for(both, half, ENROL, "mean", "dlib")
        if a.genuine.size != b.genuine.size:
            return None
        za = [(x - stats[""][0]) / stats[""][1] for x in (a.genuine, a.impostor)]
        zb = [(x - stats["dlib"][0]) / stats["dlib"][1] for x in (b.genuine, b.impostor)]
        out.append(
            (
                Trials(
                    weight * za[0] + (1 - weight) * zb[0],
                    a.genuine_owner,
                    weight * za[1] + (1 - weight) * zb[1],
                    a.impostor_owner,
                    a.impostor_prober,
                ),
                people,
            )
        )
    return out[0][0], out[1][0], out[1][1]


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="shared data folder")
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--phone-samples", type=int, default=40)
    parser.add_argument(
        "--identities",
        type=int,
        default=0,
        metavar="N",
        help="subsample: only N identities of each set (0 = all)",
    )
    parser.add_argument("--compare", action="store_true", help="also measure the variants")
    parser.add_argument("--write-figures", type=Path, metavar="JSON", help="write the figures")
    parser.add_argument(
        "--min-group", type=int, default=10, help="smallest race group (people) in the ratios"
    )
    args = parser.parse_args(argv)
    faces = args.data / "faces"
    if not (faces / "lfw_labels.csv").is_file():
        print(f"no labelled faces under {faces}", file=sys.stderr)
        return 2

    print(f"one core: {pin_one_core()}; OpenCV {cv2.__version__}")
    started = time.perf_counter()
    verifier = OpenCVFaceVerifier.from_installed_package()
    before = OpenCVFaceVerifier.from_installed_package(
        gate=QualityGate(comparable_prominence_ratio=0.0), test_time_flip=False
    )
    print(f"models checked (SHA-256) and loaded in {1000 * (time.perf_counter() - started):.0f} ms")
    photos = load_photos(faces)
    if args.identities:
        photos = subsample(photos, args.identities)
        print(f"SUBSAMPLED: {args.identities} identities per set")
    assign_halves(photos)
    started = time.perf_counter()
    run_gate(verifier, before, photos)
    print(
        f"{len(photos)} photos through the product's path in {time.perf_counter() - started:.1f} s"
    )
    for half in ("tune", "test"):
        subset = [p for p in photos if p.half == half]
        print(f"  {half}: {len({p.key for p in subset})} people, {len(subset)} photos")

    gate = print_gate(photos)

    # One threshold serves participants enrolled with 1, 2 or 3 photos: the largest of the
    # three tune-half thresholds at which impostors verified ≤ TARGET_FMR.
    per_size = {
        k: threshold_at_fmr(trials_for(photos, "tune", k, DEFAULT_FUSION)[0].impostor, TARGET_FMR)
        for k in (1, 2, ENROL)
    }
    threshold = max(per_size.values())
    tune, _ = trials_for(photos, "tune", ENROL, DEFAULT_FUSION)
    print(
        f"\nThreshold from the tune half: {threshold:.3f} = max over 1/2/3-photo enrolment of"
        f" {per_size} (impostors verified ≤ {TARGET_FMR:g}, {DEFAULT_FUSION} fusion, LFW+ORL;"
        f" product default {DEFAULT_THRESHOLD:.3f}) — tune half, {ENROL} photos, at it:"
        f" review {tune.review(threshold).text()}, impostors {tune.accepted(threshold).text()}"
    )
    test, people = trials_for(photos, "test", ENROL, DEFAULT_FUSION)
    single, _ = trials_for(photos, "test", 1, DEFAULT_FUSION)
    test_photos = [p for p in photos if p.half == "test"]
    at_default = (test.review(DEFAULT_THRESHOLD), test.accepted(DEFAULT_THRESHOLD))
    print(f"\nTest half at {threshold:.3f} (95 % Wilson intervals)")
    print(f"  {ENROL}-photo enrolment: genuine sent to review {test.review(threshold).text()}")
    print(f"                      impostors verified       {test.accepted(threshold).text()}")
    print(f"  1-photo enrolment : genuine sent to review {single.review(threshold).text()}")
    print(f"                      impostors verified       {single.accepted(threshold).text()}")
    print(f"  asked to retake (all test photos)          {retake(test_photos).text()}")
    print(
        f"  at the product default {DEFAULT_THRESHOLD:.3f}: review {at_default[0].text()},"
        f" impostors {at_default[1].text()}"
    )
    rows = group_table(
        test, people, test_photos, threshold, f"By group, test half, {ENROL}-photo enrolment"
    )
    rows_single = group_table(
        single,
        people,
        test_photos,
        threshold,
        "By group, test half, 1-photo enrolment (more trials)",
    )
    ratios = fairness(rows, args.min_group)
    ratios_single = fairness(rows_single, args.min_group)
    print(
        "\nRatios (higher rate / lower rate; race groups with ≥"
        f" {args.min_group} people: {ratios['race_groups_compared']})"
    )
    for key, value in ratios.items():
        if key != "race_groups_compared":
            print(
                f"  {key:32s} {ratio_text(value):>12s}   1-photo: {ratio_text(ratios_single[key])}"
            )
    print(
        "  (race labels are identity-level, assigned by others, multi-label;"
        " see faces/PROVENANCE.md)"
    )

    timing = latency(verifier, photos, args.latency_samples, args.phone_samples)
    variants = compare(photos, "threshold per variant from its tune half") if args.compare else []

    if args.write_figures:
        figures = {
            "measured_on": dt.datetime.now(dt.UTC).date().isoformat(),
            "command": "nice .venv/bin/python bench/face.py " + " ".join(sys.argv[1:]),
            "subsampled_identities_per_set": args.identities or None,
            "opencv": cv2.__version__,
            "model": verifier.model_id,
            "threshold": threshold,
            "threshold_per_enrolment_size": {str(k): v for k, v in per_size.items()},
            "product_threshold": DEFAULT_THRESHOLD,
            "fusion": DEFAULT_FUSION,
            "test_time_flip": True,
            "enrolment_photos": ENROL,
            "target_impostor_rate": TARGET_FMR,
            "people": {h: len({p.key for p in photos if p.half == h}) for h in ("tune", "test")},
            "overall": {
                "genuine_review": test.review(threshold).as_json(),
                "impostor_verified": test.accepted(threshold).as_json(),
                "genuine_review_1_photo": single.review(threshold).as_json(),
                "impostor_verified_1_photo": single.accepted(threshold).as_json(),
                "retake": retake(test_photos).as_json(),
            },
            "retake_before_after": gate,
            "groups": rows,
            "groups_1_photo": rows_single,
            "ratios": ratios,
            "ratios_1_photo": ratios_single,
            "latency_ms": timing,
            "variants": variants,
            "limits": LIMITS,
        }
        args.write_figures.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
        print(f"\nfigures written to {args.write_figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
