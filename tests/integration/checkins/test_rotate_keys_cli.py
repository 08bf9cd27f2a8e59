"""`openatd face rotate-keys` re-seals stored templates under the newest key."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from openatd.checkins.templates import FaceTemplate, decrypt_template, encrypt_template
from openatd.cli.main import app
from openatd.errors import InvalidInput
from openatd.storage.db import Database

MODEL = "test-model"


def test_rotate_keys(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    db = Database(db_url)
    db.migrate()
    now = datetime.now(UTC)
    vec = np.random.default_rng(7).normal(size=128)
    template = FaceTemplate.from_embedding(vec, MODEL)
    with db.uow() as uow:
        p = uow.participants.add(
            name="P", timezone="UTC", supervision_level="app", policy={}, active=True,
            created_at=now,
        )  # fmt: skip
        uow.face_templates.add(
            participant_id=p.id, ciphertext=encrypt_template(template, [old]), model=MODEL,
            consent_reason="consent recorded at intake", created_at=now,
        )  # fmt: skip

    monkeypatch.setenv("OPENATD_TEMPLATE_KEY", f"{new},{old}")
    result = CliRunner().invoke(app, ["face", "rotate-keys", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    assert "1 face template(s) re-sealed" in result.output

    with db.uow() as uow:
        (row,) = uow.face_templates.for_participant(p.id)
        token = row.ciphertext
    opened = decrypt_template(token, MODEL, [new])  # the new key alone opens it
    assert np.allclose(opened.vector, template.vector)
    with pytest.raises(InvalidInput):
        decrypt_template(token, MODEL, [old])
    db.dispose()
