"""Face templates: the only thing kept from an enrolment photo, and how they are sealed.

A template is one unit-length embedding vector of the recogniser that made it.
Serialised, it is the raw little-endian float32 vector (128 × 4 = 512 bytes for
SFace); the model id is stored next to it so that a template of one model is
never compared with a probe of another.

At rest the serialised template is sealed with Fernet (AES-128-CBC + HMAC-SHA256,
from ``cryptography``) through :class:`~cryptography.fernet.MultiFernet`, so keys
can be rotated: encrypt with the newest key, decrypt with any listed key, and
:func:`rotate_template` re-seals an old token under the newest key. Keys are
passed in by the caller (settings ``OPENATD_TEMPLATE_KEY``: comma-separated,
newest first); nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from openatd.errors import ConfigurationError, InvalidInput

FloatVector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, eq=False)
class FaceTemplate:
    """One enrolled face: a unit-length embedding and the id of the model that made it.

    Attributes:
        vector: float32, shape ``(n,)``, L2 norm 1 (read-only).
        model_id: e.g. ``"yunet-2023mar-int8bq+sface-2021dec-int8bq"``.
    """

    vector: FloatVector
    model_id: str

    @classmethod
    def from_embedding(cls, embedding: npt.ArrayLike, model_id: str) -> FaceTemplate:
        """Normalise a raw embedding to unit length.

        Raises:
            InvalidInput: empty, non-finite or all-zero embedding.
        """
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.size == 0 or not bool(np.all(np.isfinite(vector))):
            raise InvalidInput("face template is empty or not finite")
        norm = float(np.linalg.norm(vector))
        if norm < 1e-6:
            raise InvalidInput("face template is all zeros")
        unit = (vector / norm).astype(np.float32)
        unit.setflags(write=False)
        return cls(vector=unit, model_id=model_id)

    def to_bytes(self) -> bytes:
        """The vector as little-endian float32 bytes (4 bytes per dimension)."""
        return self.vector.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, model_id: str, *, dimensions: int = 128) -> FaceTemplate:
        """Rebuild a template from :meth:`to_bytes` output.

        The values are kept bit for bit; a vector that is not unit-length (±0.1 %) was not
        made by :meth:`to_bytes` and is refused.

        Raises:
            InvalidInput: the byte length is not ``4 * dimensions`` or the vector is invalid.
        """
        if len(data) != 4 * dimensions:
            raise InvalidInput(
                f"face template is {len(data)} bytes; expected {4 * dimensions} "
                f"({dimensions} float32 values)"
            )
        vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
        norm = float(np.linalg.norm(vector)) if bool(np.all(np.isfinite(vector))) else 0.0
        if abs(norm - 1.0) > 1e-3:
            raise InvalidInput(f"face template is not a unit vector (norm {norm:.4f})")
        vector.setflags(write=False)
        return cls(vector=vector, model_id=model_id)


def _multi_fernet(keys: Sequence[str | bytes]) -> MultiFernet:
    if not keys:
        raise ConfigurationError("no face-template key configured")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            "a face-template key is not a valid Fernet key (32 url-safe base64 bytes)"
        ) from exc


def parse_keys(setting: str) -> list[str]:
    """Split the ``template_key`` setting (comma-separated, newest first) into keys."""
    return [key.strip() for key in setting.split(",") if key.strip()]


def encrypt_template(template: FaceTemplate, keys: Sequence[str | bytes]) -> bytes:
    """Seal a template's bytes with the first (newest) of *keys*; returns a Fernet token.

    Raises:
        ConfigurationError: no key, or a key that is not a Fernet key.
    """
    return _multi_fernet(keys).encrypt(template.to_bytes())


def decrypt_template(
    token: bytes, model_id: str, keys: Sequence[str | bytes], *, dimensions: int = 128
) -> FaceTemplate:
    """Open a token made by :func:`encrypt_template` with any of *keys*.

    Raises:
        InvalidInput: the token was not made by any of *keys* or was altered.
        ConfigurationError: no key, or a malformed key.
    """
    try:
        data = _multi_fernet(keys).decrypt(token)
    except InvalidToken as exc:
        raise InvalidInput(
            "face template token does not open with any configured key (altered, or its key "
            "was removed from OPENATD_TEMPLATE_KEY)"
        ) from exc
    return FaceTemplate.from_bytes(data, model_id, dimensions=dimensions)


def rotate_template(token: bytes, keys: Sequence[str | bytes]) -> bytes:
    """Re-seal *token* under the newest key (first of *keys*), keeping its content.

    Run over every stored template after putting a new key first in the setting; the old
    key can be dropped once every token is rotated.

    Raises:
        InvalidInput: the token opens with none of *keys*.
    """
    try:
        return _multi_fernet(keys).rotate(token)
    except InvalidToken as exc:
        raise InvalidInput("face template token does not open with any configured key") from exc
