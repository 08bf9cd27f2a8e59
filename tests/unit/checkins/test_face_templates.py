"""Face templates: float32 serialisation and Fernet sealing with key rotation."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.fernet import Fernet

from openatd.checkins.face import MODEL_ID, OpenCVFaceVerifier
from openatd.checkins.templates import (
    FaceTemplate,
    decrypt_template,
    encrypt_template,
    parse_keys,
    rotate_template,
)
from openatd.errors import ConfigurationError, InvalidInput


@pytest.fixture(scope="module")
def template(shared_data) -> FaceTemplate:  # type: ignore[no-untyped-def]
    verifier = OpenCVFaceVerifier.from_installed_package()
    photo = shared_data.path("faces", "lfw", "Adam_Sandler", "Adam_Sandler_0001.jpg")
    return verifier.enroll(photo.read_bytes())


def test_template_is_a_unit_128_float32_vector(template: FaceTemplate) -> None:
    assert template.vector.shape == (128,)
    assert float(np.linalg.norm(template.vector)) == pytest.approx(1.0, abs=1e-5)
    assert template.model_id == MODEL_ID
    data = template.to_bytes()
    assert len(data) == 512
    again = FaceTemplate.from_bytes(data, MODEL_ID)
    assert np.array_equal(again.vector, template.vector)


def test_wrong_length_bytes_are_refused(template: FaceTemplate) -> None:
    with pytest.raises(InvalidInput, match="508 bytes; expected 512"):
        FaceTemplate.from_bytes(template.to_bytes()[:-4], MODEL_ID)
    with pytest.raises(InvalidInput, match="not a unit vector"):
        FaceTemplate.from_bytes(bytes(512), MODEL_ID)


def test_sealed_template_opens_only_with_its_key(template: FaceTemplate) -> None:
    key = Fernet.generate_key().decode()
    token = encrypt_template(template, [key])
    assert template.to_bytes() not in token
    opened = decrypt_template(token, MODEL_ID, [key])
    assert np.array_equal(opened.vector, template.vector)
    with pytest.raises(InvalidInput, match="does not open"):
        decrypt_template(token, MODEL_ID, [Fernet.generate_key()])
    altered = token[:-5] + (b"A" if token[-5:-4] != b"A" else b"B") + token[-4:]
    with pytest.raises(InvalidInput, match="does not open"):
        decrypt_template(altered, MODEL_ID, [key])


def test_key_rotation(template: FaceTemplate) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = encrypt_template(template, [old])
    keys = parse_keys(f" {new} , {old} ,")
    assert keys == [new, old]
    assert np.array_equal(decrypt_template(token, MODEL_ID, keys).vector, template.vector)
    rotated = rotate_template(token, keys)
    reopened = decrypt_template(rotated, MODEL_ID, [new])  # the old key can now be dropped
    assert np.array_equal(reopened.vector, template.vector)
    with pytest.raises(InvalidInput):
        decrypt_template(token, MODEL_ID, [new])


def test_missing_or_malformed_key_is_a_configuration_error(template: FaceTemplate) -> None:
    with pytest.raises(ConfigurationError, match="no face-template key"):
        encrypt_template(template, [])
    with pytest.raises(ConfigurationError, match="not a valid Fernet key"):
        encrypt_template(template, ["not-a-key"])
