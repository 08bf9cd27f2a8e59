"""Image intake and the photo-quality gate of a face check-in.

Two things live here, both pure (numpy/OpenCV/Pillow, no model):

* :func:`decode_image` turns uploaded bytes into a BGR pixel array, refusing
  anything that is not a complete JPEG or PNG of sane size *before* it is
  decoded in full (image bombs are stopped on their header).
* :class:`QualityGate` holds the pinned thresholds of the gate and the
  measurements it is judged on; :class:`QualityCode` names each outcome and
  carries the plain-language retake instruction given to the participant.

The gate runs before any face comparison (cases.md B26): a poor photo is a
retake, never a mismatch. The numbers are pinned from measurements on the
shared LFW and AT&T/ORL photos; ``docs/face.md`` gives them and how they were
measured.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from openatd.errors import InvalidInput

#: A decoded image: height × width × 3, uint8, OpenCV's BGR channel order.
BGRImage = npt.NDArray[np.uint8]

#: Uploads larger than this are refused before decoding (bytes).
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: Images whose header declares more pixels than this are refused before decoding
#: (a 12 MP phone photo is 4032 × 3024; 40 MP leaves room for any phone camera).
MAX_IMAGE_PIXELS = 40_000_000
#: The only container formats accepted (HEIC photos are converted to JPEG by the app).
ACCEPTED_FORMATS = ("JPEG", "PNG")


class QualityCode(StrEnum):
    """Outcome of the quality gate; each failing code comes with a retake instruction."""

    OK = "ok"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    BLURRED = "blurred"

    @property
    def message(self) -> str:
        """The plain-language sentence shown to the participant for this outcome."""
        return _MESSAGES[self]


_MESSAGES: dict[QualityCode, str] = {
    QualityCode.OK: "The photo is good enough to check.",
    QualityCode.NO_FACE: (
        "We could not find a face in the photo. Hold the phone at arm's length with your whole "
        "face in the frame, look at the camera, and take the photo again."
    ),
    QualityCode.MULTIPLE_FACES: (
        "There is more than one face in the photo. Make sure only you are in the picture and "
        "take the photo again."
    ),
    QualityCode.FACE_TOO_SMALL: (
        "Your face is too small in the photo. Hold the phone closer so that your face fills "
        "most of the frame, and take the photo again."
    ),
    QualityCode.TOO_DARK: (
        "The photo is too dark. Move to a brighter place or turn towards a light or a window, "
        "and take the photo again."
    ),
    QualityCode.TOO_BRIGHT: (
        "The photo is too bright. Move out of direct sunlight or away from a strong light "
        "shining on your face, and take the photo again."
    ),
    QualityCode.BLURRED: (
        "The photo is blurred. Hold the phone still, wipe the camera lens, and take the photo "
        "again."
    ),
}


@dataclass(frozen=True, slots=True)
class QualityGate:
    """Pinned thresholds of the photo-quality gate (defaults measured, see docs/face.md).

    Attributes:
        working_long_side_px: images are shrunk (area interpolation) so that their long
            side is at most this many pixels before detection; all pixel sizes below are
            in this working image, so they scale with the input.
        min_detection_score: YuNet confidence (0..1) below which a box is not a face.
        min_eye_distance_px: smallest distance between the two eye centres of the chosen
            face, in working-image pixels. SFace scores are flat down to ~22 px on LFW and
            drop below ~18 px.
        comparable_face_ratio: another face whose eye distance is at least this fraction
            of the chosen face's *and* whose prominence (size × centrality) is at least
            ``comparable_prominence_ratio`` of the chosen face's makes the photo ambiguous
            (``multiple_faces``); any other face is a bystander: it is ignored and the
            report says so.
        comparable_prominence_ratio: see ``comparable_face_ratio``. A face as large as the
            participant's but clearly off to the side (a news photo's neighbour, someone
            behind the participant's shoulder) scores lower here and is ignored.
        competitor_min_score: detection score a second face needs to count as a competitor
            (keeps low-confidence false detections from forcing a retake).
        min_face_luma, max_face_luma: bounds of the mean BT.601 luma (0..255) of the face
            box. With no face found, the whole image's mean luma is judged against them.
        clip_level: luma at or above which a pixel counts as clipped (JPEG rounding keeps
            blown-out skin a few levels under 255).
        max_clipped_fraction: largest fraction (0..1) of clipped face pixels.
        min_sharpness: floor of the variance of the Laplacian of the aligned 112 × 112 grey
            face (resolution-independent because it is measured after alignment).
    """

    working_long_side_px: int = 640
    min_detection_score: float = 0.6
    min_eye_distance_px: float = 20.0
    comparable_face_ratio: float = 0.8
    comparable_prominence_ratio: float = 0.8
    competitor_min_score: float = 0.8
    min_face_luma: float = 40.0
    max_face_luma: float = 220.0
    clip_level: int = 250
    max_clipped_fraction: float = 0.25
    min_sharpness: float = 15.0

    def exposure(self, grey: npt.NDArray[np.uint8]) -> tuple[QualityCode, float, float]:
        """Judge the exposure of a grey region (a face box, or the whole image).

        Returns:
            ``(code, mean_luma, clipped_fraction)`` where code is ``TOO_DARK``,
            ``TOO_BRIGHT`` or ``OK``. An empty region counts as ``TOO_DARK`` with zeros.
        """
        if grey.size == 0:
            return QualityCode.TOO_DARK, 0.0, 0.0
        mean_luma = float(grey.mean())
        clipped = float(np.count_nonzero(grey >= self.clip_level)) / float(grey.size)
        if mean_luma < self.min_face_luma:
            return QualityCode.TOO_DARK, mean_luma, clipped
        if mean_luma > self.max_face_luma or clipped > self.max_clipped_fraction:
            return QualityCode.TOO_BRIGHT, mean_luma, clipped
        return QualityCode.OK, mean_luma, clipped


def sharpness(aligned_bgr: BGRImage) -> float:
    """Variance of the Laplacian of a grey image (a common focus measure; Pech-Pacheco et
    al., ICPR 2000). Higher is sharper; units are luma² per pixel."""
    grey = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def to_grey(image: BGRImage) -> npt.NDArray[np.uint8]:
    """BT.601 luma (0..255) of a BGR image, as OpenCV computes it."""
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Pixels of an upload and the upright size of the full image they came from.

    ``pixels`` may be smaller than ``width`` × ``height`` when a large JPEG was decoded
    at a reduced scale; ``width`` and ``height`` are after EXIF rotation.
    """

    pixels: BGRImage
    width: int
    height: int


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a corrupt EXIF block leaves the pixels as stored (the
    face detector then decides, and a sideways face is a retake, not an error)."""
    try:
        return ImageOps.exif_transpose(image)
    except (
        OSError,
        SyntaxError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        struct.error,
    ):
        return image


def decode_image(
    data: bytes,
    *,
    min_long_side_px: int = 0,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> DecodedImage:
    """Decode an uploaded JPEG or PNG into BGR pixels, upright per its EXIF orientation.

    The header is read first: the format must be JPEG or PNG and width × height must
    not exceed *max_pixels*, so an image bomb is refused before any pixel is decoded.
    A JPEG much larger than needed is decoded at a reduced DCT scale (1/2, 1/4 or 1/8,
    Pillow's ``draft``) as long as its long side stays at least *min_long_side_px*.

    Args:
        data: the uploaded file's bytes.
        min_long_side_px: smallest long side (pixels) the caller needs; 0 = full size.
        max_bytes: largest accepted upload, bytes.
        max_pixels: largest accepted declared pixel count.

    Returns:
        A :class:`DecodedImage` whose ``pixels`` are ``uint8``, shape ``(h, w, 3)``, BGR.
        Grey images are expanded to three equal channels; an alpha channel is dropped.

    Raises:
        InvalidInput: empty or too large upload; not a JPEG/PNG; declared dimensions
            over *max_pixels*; truncated or corrupt image data.
    """
    if not data:
        raise InvalidInput("image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise InvalidInput(f"image is {len(data)} bytes; the limit is {max_bytes} bytes")
    with warnings.catch_warnings():
        # Pillow warns about its own (laxer) bomb limit and about each malformed EXIF
        # tag; neither calls for action here: our limits are checked below, and EXIF is
        # used only for the orientation.
        warnings.simplefilter("ignore")
        return _decode(data, min_long_side_px, max_pixels)


def _decode(data: bytes, min_long_side_px: int, max_pixels: int) -> DecodedImage:
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise InvalidInput("not a JPEG or PNG image") from exc
    except Image.DecompressionBombError as exc:
        raise InvalidInput(
            f"image declares more pixels than the limit of {max_pixels} pixels "
            "(refused before decoding)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"unreadable image header: {exc}") from exc
    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise InvalidInput(f"image declares empty dimensions {width}x{height}")
        if width * height > max_pixels:
            raise InvalidInput(
                f"image is {width}x{height} = {width * height} pixels; "
                f"the limit is {max_pixels} pixels"
            )
        if image.format == "JPEG" and min_long_side_px > 0:
            scale = min_long_side_px / max(width, height)
            if scale < 1.0:
                image.draft("RGB", (int(np.ceil(width * scale)), int(np.ceil(height * scale))))
        try:
            image.load()
            rgb = np.asarray(_upright(image).convert("RGB"), dtype=np.uint8)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise InvalidInput(f"corrupt or truncated {image.format} image: {exc}") from exc
    if (rgb.shape[1] > rgb.shape[0]) != (width > height):
        width, height = height, width  # EXIF turned the picture by 90°
    return DecodedImage(np.ascontiguousarray(rgb[:, :, ::-1]), width, height)
