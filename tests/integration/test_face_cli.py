"""``openatd face verify`` on real LFW photos: one pair, several enrolled photos, a pairs CSV."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from openatd.cli.main import app


@pytest.fixture(scope="module")
def lfw(shared_data) -> Path:  # type: ignore[no-untyped-def]
    return Path(shared_data.path("faces", "lfw"))


def run(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(app, ["face", "verify", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines


def test_same_person_with_several_enrolled_photos(lfw: Path) -> None:
    person = lfw / "Adam_Sandler"
    code, lines = run(
        "--enrolled",
        str(person / "Adam_Sandler_0001.jpg"),
        str(person / "Adam_Sandler_0002.jpg"),
        "--probe",
        str(person / "Adam_Sandler_0003.jpg"),
    )
    assert code == 0
    (out,) = lines
    assert set(out) == {"enrolled", "probe", "decision", "score", "threshold", "quality"}
    assert out["enrolled"] == [
        str(person / "Adam_Sandler_0001.jpg"),
        str(person / "Adam_Sandler_0002.jpg"),
    ]
    assert out["probe"] == str(person / "Adam_Sandler_0003.jpg")
    assert out["decision"] == "verified"
    assert isinstance(out["score"], float) and out["score"] >= out["threshold"]  # type: ignore[operator]
    assert out["quality"] == {"code": "ok", "message": "The photo is good enough to check."}


def test_repeated_enrolled_option_and_different_person(lfw: Path) -> None:
    code, lines = run(
        "--enrolled",
        str(lfw / "Adam_Sandler" / "Adam_Sandler_0001.jpg"),
        "--enrolled",
        str(lfw / "Adam_Sandler" / "Adam_Sandler_0002.jpg"),
        "--probe",
        str(lfw / "Al_Sharpton" / "Al_Sharpton_0001.jpg"),
    )
    assert code == 0
    assert lines[0]["decision"] == "needs_review"


def test_pairs_file_in_order_with_a_retake_and_a_bad_row(
    lfw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths in the CSV are relative to here
    photo = cv2.imread(str(lfw / "Adam_Sandler" / "Adam_Sandler_0003.jpg"))
    assert photo is not None
    dark = np.asarray(np.clip(photo * (14.0 / photo.mean()), 0, 255), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "dark.jpg"), dark)  # derived in the test's temp folder
    (tmp_path / "notes.txt").write_text("not a photo")
    a1 = lfw / "Adam_Sandler" / "Adam_Sandler_0001.jpg"
    a2 = lfw / "Adam_Sandler" / "Adam_Sandler_0002.jpg"
    rows = [
        "enrolled,probe",
        f"{a1};{a2},{lfw / 'Adam_Sandler' / 'Adam_Sandler_0004.jpg'}",
        f"{a1},{lfw / 'Al_Sharpton' / 'Al_Sharpton_0001.jpg'}",
        f"{a1},dark.jpg",
        f"{a1},notes.txt",
    ]
    (tmp_path / "lists").mkdir()
    csv_file = tmp_path / "lists" / "pairs.csv"  # not beside the photos: cwd decides
    csv_file.write_text("\n".join(rows) + "\n")
    code, lines = run("--pairs", str(csv_file))
    assert code == 1  # one row could not be judged
    assert [line.get("decision") for line in lines] == [
        "verified",
        "needs_review",
        "retake_requested",
        None,
    ]
    assert [line["line"] for line in lines] == [2, 3, 4, 5]
    assert lines[1]["enrolled"] == [str(a1)]
    assert lines[1]["probe"] == str(lfw / "Al_Sharpton" / "Al_Sharpton_0001.jpg")
    assert lines[2]["probe"] == "dark.jpg"
    assert lines[3]["probe"] == "notes.txt"
    assert lines[2]["score"] is None
    assert lines[2]["quality"]["code"] == "too_dark"  # type: ignore[index]
    assert "not a JPEG or PNG" in str(lines[3]["error"])


def test_usage_errors() -> None:
    assert CliRunner().invoke(app, ["face", "verify", "--probe", "x.jpg"]).exit_code == 2
    both = CliRunner().invoke(app, ["face", "verify", "--pairs", "p.csv", "--probe", "x.jpg"])
    assert both.exit_code == 2


def test_figures_prints_the_published_rates_and_limits() -> None:
    from openatd.checkins.face_figures import load_face_figures

    published = load_face_figures()
    result = CliRunner().invoke(app, ["face", "figures"])
    assert result.exit_code == 0, result.output
    assert f"threshold {published['threshold']}" in result.output
    assert "| women |" in result.output and "| men |" in result.output
    assert published["limits"][0] in result.output
    overall = published["overall"]["genuine_review"]
    assert f"| {overall['k']} / {overall['n']} |" in result.output
