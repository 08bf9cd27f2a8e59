"""Real face photos for the check-in tests, read from ../shared/data/faces, and the
image manipulations the tests derive from them in memory (nothing is written to the repo)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]


def lfw_identities(faces_dir: Path) -> dict[str, list[Path]]:
    """Identity -> image paths, in lfw_labels.csv order."""
    by_identity: dict[str, list[Path]] = defaultdict(list)
    with (faces_dir / "lfw_labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            by_identity[row["identity"]].append(faces_dir / row["image"])
    return dict(by_identity)


def read(path: Path) -> Pixels:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return np.asarray(image, dtype=np.uint8)


def jpeg(image: Pixels, quality: int = 92) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buffer.tobytes())


def png(image: Pixels) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return bytes(buffer.tobytes())


def mean_luma(image: Pixels) -> float:
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).mean())


def scaled_to_luma(image: Pixels, target: float) -> Pixels:
    """Multiply every channel so the mean luma lands near *target* (clipping at 255)."""
    factor = target / mean_luma(image)
    return np.asarray(np.clip(image.astype(np.float64) * factor, 0, 255), dtype=np.uint8)


def overexposed(image: Pixels, gain: float = 3.0, lift: float = 200.0) -> Pixels:
    """Blown-out exposure: gain plus a lift of the black level, clipped at 255."""
    return np.asarray(np.clip(image.astype(np.float64) * gain + lift, 0, 255), dtype=np.uint8)
