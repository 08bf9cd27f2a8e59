"""Helpers of the check-in integration tests: real LFW photos from ../shared/data/faces, images
the tests derive from them in memory (darkened, blurred), and a thin client of the real API
(works on a live server's ``httpx.Client`` and on a ``TestClient`` alike)."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from openatd.accounts import create_user
from openatd.api.container import Container
from openatd.checkins.face import OpenCVFaceVerifier
from openatd.domain.clock import SimulatedClock
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
CONSENT = "participant signed the face-check consent form on 2026-03-02"
REASON = "reviewing the participant's check-in history"
HOME = (41.8781, -87.6298)  # a home in Chicago (lat, lon)
T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Monday 09:00 in Chicago (CDT, UTC-5)


@dataclass(frozen=True)
class Person:
    """One LFW identity: two enrolment photos and a third photo to check in with."""

    name: str
    enrol: list[bytes]
    probe: bytes


def lfw_people(faces_dir: Path, verifier: OpenCVFaceVerifier, count: int) -> list[Person]:
    """The first *count* identities (lfw_labels.csv order) whose first three photos all pass the
    photo-quality gate. Selection looks at photo quality only, never at match scores."""
    by_identity: dict[str, list[Path]] = defaultdict(list)
    with (faces_dir / "lfw_labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            by_identity[row["identity"]].append(faces_dir / row["image"])
    people: list[Person] = []
    for name, paths in by_identity.items():
        if len(paths) < 3:
            continue
        data = [p.read_bytes() for p in paths[:3]]
        if all(verifier.probe(d).quality.passed for d in data):
            people.append(Person(name, data[:2], data[2]))
        if len(people) == count:
            return people
    raise AssertionError(f"fewer than {count} LFW identities with three gate-passing photos")


def _decode(data: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, dtype=np.uint8)


def _jpeg(image: np.ndarray[Any, np.dtype[np.uint8]]) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return bytes(buffer.tobytes())


def mean_luma(data: bytes) -> float:
    return float(cv2.cvtColor(_decode(data), cv2.COLOR_BGR2GRAY).mean())


def darkened(data: bytes, target_luma: float = 14.0) -> bytes:
    """The photo scaled down so its mean luma is about *target_luma* (cases.md B26 attempt 1)."""
    image = _decode(data).astype(np.float64)
    factor = target_luma / float(cv2.cvtColor(_decode(data), cv2.COLOR_BGR2GRAY).mean())
    return _jpeg(np.asarray(np.clip(image * factor, 0, 255), dtype=np.uint8))


def overexposed(data: bytes, gain: float = 3.0, lift: float = 200.0) -> bytes:
    """Blown-out exposure: every channel times *gain* plus *lift*, clipped at 255."""
    image = _decode(data).astype(np.float64)
    return _jpeg(np.asarray(np.clip(image * gain + lift, 0, 255), dtype=np.uint8))


def with_exif_gps(data: bytes) -> bytes:
    """The JPEG re-saved by Pillow with EXIF: camera make/model and a GPS position, as phones
    write them."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = {1: "N", 2: (41.0, 52.0, 41.16), 3: "W", 4: (87.0, 37.0, 47.28)}
    exif[0x8825] = gps  # GPSInfo IFD
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, exif=exif)
    return out.getvalue()


def blurred(data: bytes, sigma: float = 6.0) -> bytes:
    """The photo under a strong Gaussian blur (a shaking hand, a smeared lens)."""
    image = _decode(data)
    return _jpeg(np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.uint8))


def make_users(database_url: str, now: datetime) -> None:
    """alice and bob (case managers), sam (supervisor)."""
    db = Database(database_url)
    with db.uow() as uow:
        create_user(uow, now, "alice", PASSWORD, "case_manager")
        create_user(uow, now, "bob", PASSWORD, "case_manager")
        create_user(uow, now, "sam", PASSWORD, "supervisor")
    db.dispose()


class Api:
    """The calls a case manager's screen and a participant's phone make."""

    def __init__(self, client: httpx.Client) -> None:
        self.c = client

    def login(self, username: str) -> dict[str, str]:
        r = self.c.post("/api/auth/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def participant(self, staff: dict[str, str], name: str, tz: str = "America/Chicago") -> int:
        r = self.c.post(
            "/api/participants",
            headers=staff,
            json={"name": name, "timezone": tz, "supervision_level": "app"},
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def enrol(
        self, staff: dict[str, str], pid: int, photos: list[bytes], consent: str = CONSENT
    ) -> httpx.Response:
        files = [("photos", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]
        return self.c.post(
            f"/api/participants/{pid}/face-enrolment",
            headers=staff,
            files=files,
            data={"consent_reason": consent},
        )

    def adhoc(
        self, staff: dict[str, str], pid: int, minutes: int = 60, grace_s: int = 300
    ) -> dict[str, Any]:
        r = self.c.post(
            f"/api/participants/{pid}/checkin-schedules",
            headers=staff,
            json={
                "kind": "adhoc",
                "within_minutes": minutes,
                "grace_s": grace_s,
                "reason": "random check requested after a missed appointment",
            },
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def weekly(
        self, staff: dict[str, str], pid: int, windows: list[dict[str, Any]], grace_s: int = 300
    ) -> dict[str, Any]:
        r = self.c.post(
            f"/api/participants/{pid}/checkin-schedules",
            headers=staff,
            json={"kind": "weekly", "windows": windows, "grace_s": grace_s},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def phone(self, staff: dict[str, str], pid: int) -> dict[str, str]:
        """Issue a one-time code as staff and sign the phone in with it."""
        r = self.c.post(f"/api/participants/{pid}/app-code", headers=staff)
        assert r.status_code == 201, r.text
        code = r.json()["code"]
        r = self.c.post("/api/portal/token", json={"participant_id": pid, "code": code})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def check_in(
        self,
        phone: dict[str, str],
        photo: bytes,
        *,
        lat: float = HOME[0],
        lon: float = HOME[1],
        accuracy_m: float = 12.0,
        device_time: str | None = "2026-01-01T00:00:00+00:00",
        schedule_id: int | None = None,
        filename: str = "selfie.jpg",
        content_type: str = "image/jpeg",
    ) -> httpx.Response:
        data: dict[str, Any] = {"latitude": lat, "longitude": lon, "accuracy_m": accuracy_m}
        if device_time is not None:
            data["device_time"] = device_time
        if schedule_id is not None:
            data["schedule_id"] = schedule_id
        return self.c.post(
            "/api/portal/checkins",
            headers=phone,
            files={"selfie": (filename, photo, content_type)},
            data=data,
        )


@dataclass
class Stack:
    """The real API over loopback HTTP on a real database, with a clock the test moves."""

    api: Api
    client: httpx.Client
    container: Container
    clock: SimulatedClock
    url: str
