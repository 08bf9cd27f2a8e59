"""Quality-gate measurements and the all-pairs DET curve on the shared labelled faces (the
first face bench; bench/face.py is the check-in bench with the split and the targets).

Run from the repository root::

    .venv/bin/python bench/face.py [--data ../shared/data] [--threshold 0.40]

It reads ``faces/lfw_labels.csv`` + ``faces/lfw/`` (LFW, gender and race labels) and
``faces/orl/`` (AT&T/ORL) under the data folder (``--data``, else
``OPENATD_SHARED_DATA``, else ``../shared/data`` next to the repository), runs every
photo through the product's own path (:class:`OpenCVFaceVerifier`: decode → quality
gate → detect → align → embed) on ONE core, then scores every genuine pair (same
identity) and every impostor pair (different identities) within each dataset.

Printed: quality-gate outcomes (photos asked to retake), FNMR and FMR at the chosen
threshold and at reference thresholds, thresholds for FMR 1e-3 / 1e-4, per-group
rates (LFW gender; LFW race, identity-level, multi-label, so a person counts in every
group named for them; impostor pairs within a group pair two people of that group),
and latency percentiles of a full check-in (decode → quality → detect → embed →
match; storing the record is not included) for the 250 × 250 LFW JPEGs and for
12 MP phone-size JPEGs. Writes a DET curve to ``bench/out/face_det.png`` when
matplotlib is installed (``pip install -e .[bench]``).

FNMR counts genuine pairs whose score is below the threshold among pairs whose two
photos passed the gate; FMR counts impostor pairs at or above it. A photo that fails
the gate is a retake in the product (never a mismatch), so it is reported as a
failure-to-acquire rate instead.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from openatd.checkins.face import DEFAULT_THRESHOLD, OpenCVFaceVerifier
from openatd.checkins.quality import QualityCode, QualityGate
from openatd.checkins.templates import FaceTemplate

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_THRESHOLDS = (0.30, 0.363, 0.40, 0.431, 0.45)


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
    template: FaceTemplate | None = None
    ignored_faces: int = 0
    measures: dict[str, float] = field(default_factory=dict)


@dataclass
class Pairs:
    """Scores of genuine and impostor pairs of one dataset (photos that passed the gate)."""

    genuine: npt.NDArray[np.float64]
    impostor: npt.NDArray[np.float64]
    genuine_ids: list[tuple[int, int]] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    same: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    scores: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    first: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    second: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


def default_data() -> Path:
    env = os.environ.get("OPENATD_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def pin_one_core() -> str:
    """Run on one CPU core: OpenCV single-threaded and, where possible, process affinity."""
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
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


def run_gate(verifier: OpenCVFaceVerifier, photos: list[Photo]) -> None:
    for photo in photos:
        probe = verifier.probe(photo.data)
        photo.code = probe.quality.code
        photo.template = probe.template
        photo.ignored_faces = probe.quality.ignored_faces
        quality = probe.quality
        if quality.faces_found:
            photo.measures = {
                "face luma": quality.face_luma,
                "clipped %": 100.0 * quality.clipped_fraction,
                "eye distance px": quality.eye_distance_px or 0.0,
            }
            if quality.sharpness is not None:
                photo.measures["sharpness"] = quality.sharpness


def score_pairs(photos: list[Photo]) -> Pairs:
    kept = [p for p in photos if p.template is not None]
    vectors = np.stack([p.template.vector for p in kept if p.template is not None]).astype(
        np.float64
    )
    labels = np.array([p.identity for p in kept])
    first, second = np.triu_indices(len(kept), 1)
    scores = np.einsum("ij,ij->i", vectors[first], vectors[second])
    same = labels[first] == labels[second]
    return Pairs(
        genuine=scores[same],
        impostor=scores[~same],
        photos=kept,
        same=same,
        scores=scores,
        first=first,
        second=second,
    )


def rates(
    genuine: npt.NDArray[np.float64], impostor: npt.NDArray[np.float64], threshold: float
) -> tuple[int, int, int, int]:
    """(false non-matches, genuine pairs, false matches, impostor pairs) at *threshold*."""
    return (
        int(np.count_nonzero(genuine < threshold)),
        int(genuine.size),
        int(np.count_nonzero(impostor >= threshold)),
        int(impostor.size),
    )


def pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:6.3f}% ({k}/{n})" if n else "   n/a"


def threshold_at_fmr(impostor: npt.NDArray[np.float64], target: float) -> float:
    """Smallest threshold whose FMR (score >= threshold) is at most *target*."""
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(target * ordered.size))
    return float(np.nextafter(ordered[allowed], np.inf)) if allowed < ordered.size else -1.0


def equal_error_rate(pairs: Pairs) -> tuple[float, float]:
    grid = np.linspace(-0.2, 1.0, 2401)
    fnmr = np.array([np.mean(pairs.genuine < t) for t in grid])
    fmr = np.array([np.mean(pairs.impostor >= t) for t in grid])
    i = int(np.argmin(np.abs(fnmr - fmr)))
    return float((fnmr[i] + fmr[i]) / 2), float(grid[i])


def group_rows(pairs: Pairs, threshold: float) -> list[tuple[str, int, str, str]]:
    """Per-group (name, people, FNMR, FMR) on LFW; impostors are within-group pairs."""
    photos = pairs.photos
    groups: dict[str, npt.NDArray[np.bool_]] = {}
    gender = np.array([p.gender for p in photos])
    groups["women (F)"] = gender == "F"
    groups["men (M)"] = gender == "M"
    names = sorted({race for p in photos for race in p.races})
    for race in names:
        groups[f"race: {race}"] = np.array([race in p.races for p in photos])
    groups["race: unlabelled"] = np.array([not p.races for p in photos])
    rows = []
    for name, member in groups.items():
        both = member[pairs.first] & member[pairs.second]
        genuine = pairs.scores[both & pairs.same]
        impostor = pairs.scores[both & ~pairs.same]
        people = len({p.identity for p, m in zip(photos, member, strict=True) if m})
        fnm, gn, fm, imn = rates(genuine, impostor, threshold)
        rows.append((name, people, pct(fnm, gn), pct(fm, imn)))
    return rows


def percentiles(samples: Iterable[float]) -> str:
    values = np.array(list(samples)) * 1000.0
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  (n={values.size})"


def phone_size(photo: Photo) -> bytes:
    """The photo enlarged to a 12 MP portrait frame (3024 × 4032) as a phone JPEG."""
    image = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot decode {photo.path}")
    canvas = cv2.resize(image, (3024, 3024), interpolation=cv2.INTER_CUBIC)
    frame = cv2.copyMakeBorder(canvas, 504, 504, 0, 0, cv2.BORDER_REPLICATE)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise SystemExit("cannot encode phone-size JPEG")
    return bytes(jpeg.tobytes())


def latency(
    verifier: OpenCVFaceVerifier, photos: list[Photo], samples: int, phone_samples: int
) -> None:
    by_identity: dict[str, list[Photo]] = defaultdict(list)
    for photo in photos:
        if photo.template is not None and photo.dataset == "LFW":
            by_identity[photo.identity].append(photo)
    cases: list[tuple[list[FaceTemplate], Photo]] = []
    for group in by_identity.values():
        for i, probe in enumerate(group):
            enrolled = [p.template for j, p in enumerate(group) if j != i and p.template]
            if enrolled:
                cases.append((enrolled[:5], probe))
    step = max(1, len(cases) // samples)
    chosen = cases[::step][:samples]
    totals, stages = [], defaultdict(list)
    for enrolled, probe in chosen:
        started = time.perf_counter()
        result = verifier.verify(enrolled, probe.data)
        totals.append(time.perf_counter() - started)
        stages["decode"].append(result.timings.decode_s)
        stages["detect+gate+align"].append(result.timings.detect_s)
        stages["embed"].append(result.timings.embed_s)
        stages["match"].append(result.timings.match_s)
    print("\nLatency of a full check-in (decode → quality → detect → embed → match), one core")
    print(f"  LFW 250×250 JPEG, 1-4 templates : {percentiles(totals)}")
    print(
        "    mean per stage: "
        + ", ".join(f"{k} {1000 * statistics.fmean(v):.1f} ms" for k, v in stages.items())
    )
    phone = [(enrolled, phone_size(probe)) for enrolled, probe in chosen[:phone_samples]]
    phone_totals = []
    for enrolled, data in phone:
        started = time.perf_counter()
        verifier.verify(enrolled, data)
        phone_totals.append(time.perf_counter() - started)
    print(f"  12 MP 3024×4032 JPEG (~{len(phone[0][1]) // 1024} KB)  : {percentiles(phone_totals)}")
    print("  (storing the check-in record is not included: it is the storage layer's cost)")


def plot_det(
    results: dict[str, Pairs], groups: dict[str, Pairs], threshold: float, out: Path
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib not installed: no DET image; pip install -e .[bench])")
        return
    grid = np.linspace(-0.2, 1.0, 1201)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    for name, pairs in {**results, **groups}.items():
        fmr = np.array([np.mean(pairs.impostor >= t) for t in grid])
        fnmr = np.array([np.mean(pairs.genuine < t) for t in grid])
        style = "-" if name in results else "--"
        ax.plot(np.clip(fmr, 1e-6, 1), np.clip(fnmr, 1e-4, 1), style, label=name)
        at_fmr = max(float(np.mean(pairs.impostor >= threshold)), 1e-6)
        at_fnmr = max(float(np.mean(pairs.genuine < threshold)), 1e-4)
        ax.plot([at_fmr], [at_fnmr], "o", color=ax.lines[-1].get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-6, 1)
    ax.set_ylim(1e-4, 1)
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("false non-match rate (FNMR)")
    ax.set_title(f"YuNet + SFace (int8), DET; dots at threshold {threshold:.3f}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "face_det.png"
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    plt.close(fig)
    print(f"\nDET curve written to {target}")


def gate_sweep(photos: list[Photo], threshold: float, count: int) -> None:
    """How genuine scores fall as the probe shrinks or blurs, with the size and sharpness
    checks switched off: the measurements behind ``QualityGate``'s two floors."""
    permissive = OpenCVFaceVerifier.from_installed_package(
        threshold=threshold, gate=QualityGate(min_eye_distance_px=0.0, min_sharpness=0.0)
    )
    by_identity: dict[str, list[Photo]] = defaultdict(list)
    for photo in photos:
        if photo.dataset == "LFW" and photo.template is not None:
            by_identity[photo.identity].append(photo)
    pairs = [(group[0], group[1]) for group in by_identity.values() if len(group) >= 2][:count]
    originals: dict[int, npt.NDArray[np.uint8]] = {}
    for _, probe in pairs:
        decoded = cv2.imdecode(np.frombuffer(probe.data, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise SystemExit(f"cannot decode {probe.path}")
        originals[id(probe)] = np.asarray(decoded, dtype=np.uint8)

    def measure(transform: str, amount: float) -> None:
        scores, eyes, sharp, missed = [], [], [], 0
        for enrolled, probe in pairs:
            image: npt.NDArray[Any] = originals[id(probe)]
            if transform == "scale" and amount != 1.0:
                image = cv2.resize(image, None, fx=amount, fy=amount, interpolation=cv2.INTER_AREA)
            if transform == "blur" and amount > 0:
                image = cv2.GaussianBlur(image, (0, 0), amount)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            assert ok and enrolled.template is not None
            result = permissive.verify([enrolled.template], jpeg.tobytes())
            if result.score is None:
                missed += 1
                continue
            scores.append(result.score)
            eyes.append(result.quality.eye_distance_px or 0.0)
            sharp.append(result.quality.sharpness or 0.0)
        values = np.array(scores)
        print(
            f"  {transform} {amount:4.2f}: eye distance median {np.median(eyes):5.1f} px, "
            f"sharpness p10/median {np.percentile(sharp, 10):6.1f}/{np.median(sharp):6.1f}, "
            f"mean genuine score {values.mean():.3f}, "
            f"FNMR {pct(int((values < threshold).sum()), values.size)}"
            f", not scored {missed}"
        )

    print(f"\nGate sweep on {len(pairs)} genuine LFW pairs (size and sharpness checks off)")
    for factor in (1.0, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25):
        measure("scale", factor)
    for sigma in (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
        measure("blur", sigma)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="shared data folder")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--latency-samples", type=int, default=400)
    parser.add_argument("--phone-samples", type=int, default=60)
    parser.add_argument(
        "--gate-sweep",
        type=int,
        default=0,
        metavar="N",
        help="also measure N genuine pairs under shrinking and blur (sizes the gate's floors)",
    )
    args = parser.parse_args(argv)
    faces = args.data / "faces"
    if not (faces / "lfw_labels.csv").is_file():
        print(f"no labelled faces under {faces}", file=sys.stderr)
        return 2

    print(f"one core: {pin_one_core()}; OpenCV {cv2.__version__}")
    started = time.perf_counter()
    verifier = OpenCVFaceVerifier.from_installed_package(threshold=args.threshold)
    print(f"models checked (SHA-256) and loaded in {1000 * (time.perf_counter() - started):.0f} ms")
    photos = load_photos(faces)
    started = time.perf_counter()
    run_gate(verifier, photos)
    elapsed = time.perf_counter() - started
    print(f"{len(photos)} photos through decode → gate → embed in {elapsed:.1f} s")

    print("\nQuality gate (photos that would be asked to retake; never scored)")
    for dataset in ("LFW", "ORL"):
        subset = [p for p in photos if p.dataset == dataset]
        counts = Counter(p.code.value for p in subset)
        failed = sum(n for code, n in counts.items() if code != QualityCode.OK.value)
        bystanders = sum(1 for p in subset if p.template is not None and p.ignored_faces)
        detail = ", ".join(f"{c} {n}" for c, n in sorted(counts.items()) if c != "ok")
        print(
            f"  {dataset}: {len(subset)} photos, retake {pct(failed, len(subset))}"
            f" [{detail or 'none'}]; {bystanders} passed with a smaller face ignored"
        )

    print("\n  Gate measurements on the chosen face (min / 0.5th / 1st / 50th / 99th pct / max)")
    for dataset in ("LFW", "ORL"):
        subset = [p for p in photos if p.dataset == dataset]
        for name in ("face luma", "clipped %", "eye distance px", "sharpness"):
            values = [p.measures[name] for p in subset if name in p.measures]
            cuts = np.percentile(values, [0, 0.5, 1, 50, 99, 100])
            print(f"    {dataset} {name:16s} " + " / ".join(f"{v:7.1f}" for v in cuts))

    threshold = args.threshold
    results = {
        name: score_pairs([p for p in photos if p.dataset == name]) for name in ("LFW", "ORL")
    }
    results["LFW+ORL"] = Pairs(
        genuine=np.concatenate([r.genuine for r in results.values()]),
        impostor=np.concatenate([r.impostor for r in results.values()]),
    )
    print(f"\nAccuracy (all pairs within each set; chosen threshold {threshold:.3f})")
    for name, pairs in results.items():
        fnm, gn, fm, imn = rates(pairs.genuine, pairs.impostor, threshold)
        eer, eer_t = equal_error_rate(pairs)
        print(
            f"  {name:8s} FNMR {pct(fnm, gn)}   FMR {pct(fm, imn)}"
            f"   EER {100 * eer:.2f}% at {eer_t:.3f}"
        )
    lfw = results["LFW"]
    print("\n  LFW at reference thresholds:")
    for t in sorted({*REFERENCE_THRESHOLDS, threshold}):
        fnm, gn, fm, imn = rates(lfw.genuine, lfw.impostor, t)
        print(f"    {t:.3f}: FNMR {pct(fnm, gn)}  FMR {pct(fm, imn)}")
    for target in (1e-3, 1e-4):
        t = threshold_at_fmr(lfw.impostor, target)
        fnm, gn, _, _ = rates(lfw.genuine, lfw.impostor, t)
        print(f"    FMR ≤ {target:g} needs threshold {t:.3f}: FNMR {pct(fnm, gn)}")

    print(f"\nBy group on LFW at {threshold:.3f} (impostor pairs within the group)")
    print(f"  {'group':28s} {'people':>6s}  {'FNMR':>22s}  {'FMR':>24s}")
    for name, people, fnmr, fmr in group_rows(lfw, threshold):
        print(f"  {name:28s} {people:6d}  {fnmr:>22s}  {fmr:>24s}")
    print("  (race labels are identity-level, assigned by others, multi-label; small groups are")
    print("   a smoke test only — see faces/PROVENANCE.md)")

    gender_pairs = {}
    for label, code in (("LFW women", "F"), ("LFW men", "M")):
        member = np.array([p.gender == code for p in lfw.photos])
        both = member[lfw.first] & member[lfw.second]
        gender_pairs[label] = Pairs(
            genuine=lfw.scores[both & lfw.same], impostor=lfw.scores[both & ~lfw.same]
        )

    latency(verifier, photos, args.latency_samples, args.phone_samples)
    if args.gate_sweep:
        gate_sweep(photos, threshold, args.gate_sweep)
    plot_det(results, gender_pairs, threshold, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
