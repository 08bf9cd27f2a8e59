"""Decoding uploads: only complete JPEG/PNG of sane size; bombs refused on their header."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from face_photos import png, read
from PIL import Image

from openatd.checkins.quality import MAX_IMAGE_PIXELS, QualityCode, QualityGate, decode_image
from openatd.errors import InvalidInput


def _chunk(kind: bytes, payload: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC-32 of type+data (PNG spec §5.3)."""
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares width × height 8-bit grey pixels (PNG spec §11.2.2),
    followed by a few compressed zero rows: decoding it would need width × height bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")
    )


def jpeg_with_dimensions(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame size in a baseline JPEG's SOF0 segment (ITU T.81 B.2.2:
    FFC0, Lf(2), P(1), Y(2), X(2), ...)."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


@pytest.fixture(scope="module")
def photo(shared_data) -> bytes:  # type: ignore[no-untyped-def]
    return bytes(
        shared_data.path("faces", "lfw", "Adam_Sandler", "Adam_Sandler_0001.jpg").read_bytes()
    )


def test_real_jpeg_decodes_to_bgr(photo: bytes) -> None:
    decoded = decode_image(photo)
    assert decoded.pixels.shape == (250, 250, 3)
    assert (decoded.width, decoded.height) == (250, 250)
    assert decoded.pixels.dtype == np.uint8


def test_grey_png_is_expanded_to_three_channels(shared_data) -> None:  # type: ignore[no-untyped-def]
    grey = read(shared_data.path("faces", "orl", "s1", "1.pgm"))
    decoded = decode_image(png(grey))
    assert decoded.pixels.shape == (112, 92, 3)
    assert np.array_equal(decoded.pixels[:, :, 0], decoded.pixels[:, :, 2])


def test_large_jpeg_is_decoded_at_reduced_scale(photo: bytes) -> None:
    big = Image.open(io.BytesIO(photo)).resize((4000, 3000))
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=85)
    decoded = decode_image(buffer.getvalue(), min_long_side_px=640)
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert 640 <= decoded.pixels.shape[1] <= 1000  # 1/4 DCT scale: 1000 × 750


def test_truncated_jpeg_is_refused(photo: bytes) -> None:
    with pytest.raises(InvalidInput, match="truncated"):
        decode_image(photo[: len(photo) * 2 // 3])


def test_non_image_is_refused(shared_data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="not a JPEG or PNG image"):
        decode_image(shared_data.path("faces", "lfw_labels.csv").read_bytes())
    with pytest.raises(InvalidInput, match="empty"):
        decode_image(b"")


def test_other_image_formats_are_refused(photo: bytes) -> None:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(buffer, format="GIF")
    with pytest.raises(InvalidInput, match="not a JPEG or PNG image"):
        decode_image(buffer.getvalue())


def test_png_bomb_is_refused_on_its_header() -> None:
    bomb = png_bomb(60_000, 60_000)
    assert len(bomb) < 2_000
    with pytest.raises(InvalidInput, match="more pixels than the limit of 40000000"):
        decode_image(bomb)


def test_jpeg_declaring_huge_dimensions_is_refused(photo: bytes) -> None:
    forged = jpeg_with_dimensions(photo, 10_000, 5_000)
    with pytest.raises(
        InvalidInput, match=f"10000x5000 = 50000000 pixels; the limit is {MAX_IMAGE_PIXELS}"
    ):
        decode_image(forged)
    modest = jpeg_with_dimensions(photo, 7_000, 6_000)  # 42 MP
    with pytest.raises(InvalidInput, match="7000x6000"):
        decode_image(modest)


def test_oversized_upload_is_refused(photo: bytes) -> None:
    with pytest.raises(InvalidInput, match=f"image is {len(photo)} bytes; the limit is 1000"):
        decode_image(photo, max_bytes=1000)


def test_exposure_rules_on_face_pixels() -> None:
    gate = QualityGate()
    assert gate.exposure(np.full((10, 10), 39, np.uint8))[0] is QualityCode.TOO_DARK
    assert gate.exposure(np.full((10, 10), 40, np.uint8))[0] is QualityCode.OK
    assert gate.exposure(np.full((10, 10), 221, np.uint8))[0] is QualityCode.TOO_BRIGHT
    half_clipped = np.full((10, 10), 100, np.uint8)
    half_clipped[:3] = 255  # 30 % clipped, mean 146.5
    code, luma, clipped = gate.exposure(half_clipped)
    assert (code, luma, clipped) == (QualityCode.TOO_BRIGHT, 146.5, 0.3)


def test_every_retake_code_has_its_own_instruction() -> None:
    messages = {code.message for code in QualityCode}
    assert len(messages) == len(QualityCode)


def test_corrupt_exif_block_does_not_refuse_the_photo() -> None:
    """A phone JPEG whose EXIF IFD0 claims 32,767 entries: Pillow warns (an error under
    pytest's warnings-as-errors); the pixels are still decoded."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(
        buffer, format="JPEG", exif=exif.tobytes()
    )
    data = bytearray(buffer.getvalue())
    tiff = data.index(b"Exif\x00\x00") + 6  # TIFF header: byte order, 42, IFD0 offset (8)
    assert data[tiff : tiff + 2] == b"MM"
    data[tiff + 8 : tiff + 10] = b"\x7f\xff"  # IFD0 entry count, big-endian
    decoded = decode_image(bytes(data))
    assert decoded.pixels.shape[0] * decoded.pixels.shape[1] == 40 * 60
    assert {decoded.width, decoded.height} == {40, 60}
