"""``openatd face verify``: re-check a 1:1 face decision, for a reviewer or an auditor.

One pair::

    openatd face verify --enrolled A.jpg [B.jpg ...] --probe C.jpg

(``--enrolled`` may also be repeated: ``--enrolled A.jpg --enrolled B.jpg``.) Prints one
JSON object ``{"enrolled": [paths], "probe": path, "decision", "score", "threshold",
"quality": {"code", "message"}}``: the pair it judged comes first, so every line says
what it is about.

Many pairs, models loaded once::

    openatd face verify --pairs pairs.csv

``pairs.csv`` has the header row ``enrolled,probe``; several enrolled photos in one cell
are separated by ``;``; relative paths are relative to the current working directory,
as for every other command (not to the CSV file's folder). One JSON line per data row,
in order, each starting with ``"line"`` (the row's line number in the CSV) and the pair;
a row that cannot be judged (missing file, not an image, an enrolment photo refused by
the quality gate) prints ``{"line", "enrolled", "probe", "error": "..."}`` and the
command exits 1 after the last row.

Exit codes: 0 all judged; 1 some input could not be judged; 2 usage; 3 the face models
are unavailable (missing or altered weight files).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openatd.errors import InvalidInput, VerificationUnavailable

if TYPE_CHECKING:
    from openatd.checkins.face import FaceVerifier, VerificationResult
    from openatd.checkins.templates import FaceTemplate

face_app = typer.Typer(help="1:1 face verification (re-check a check-in decision).")


def register(app: typer.Typer) -> None:
    """Add the ``face`` command group to the ``openatd`` app."""
    app.add_typer(face_app, name="face")


def result_json(result: VerificationResult) -> dict[str, object]:
    """The decision as printed: decision, score (4 decimals or null), threshold, quality."""
    return {
        "decision": result.decision.value,
        "score": None if result.score is None else round(result.score, 4),
        "threshold": result.threshold,
        "quality": {"code": result.quality.code.value, "message": result.quality.message},
    }


class _Checker:
    """Loads the models once and caches enrolled templates by path."""

    def __init__(self, verifier: FaceVerifier) -> None:
        self.verifier = verifier
        self._templates: dict[Path, FaceTemplate] = {}

    def _read(self, path: Path, role: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"{role} {path}: cannot read ({exc.strerror})") from exc

    def template(self, path: Path) -> FaceTemplate:
        key = path.resolve()
        if key not in self._templates:
            try:
                self._templates[key] = self.verifier.enroll(self._read(path, "enrolled"))
            except InvalidInput as exc:
                if str(exc).startswith("enrolled "):
                    raise
                raise InvalidInput(f"enrolled {path}: {exc}") from exc
        return self._templates[key]

    def check(self, enrolled: Sequence[Path], probe: Path) -> dict[str, object]:
        templates = [self.template(path) for path in enrolled]
        data = self._read(probe, "probe")
        try:
            return result_json(self.verifier.verify(templates, data))
        except InvalidInput as exc:
            raise InvalidInput(f"probe {probe}: {exc}") from exc


def _pair(enrolled: Sequence[Path], probe: Path | str) -> dict[str, object]:
    """The pair a printed line is about, paths as the user gave them."""
    return {"enrolled": [str(path) for path in enrolled], "probe": str(probe)}


def _emit(payload: dict[str, object]) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False))


def _split_paths(cell: str) -> list[Path]:
    return [Path(part.strip()) for part in cell.split(";") if part.strip()]


@face_app.command("verify")
def verify(
    more_enrolled: Annotated[
        list[Path] | None,
        typer.Argument(
            help="More enrolled photos, written after the first --enrolled path.",
            show_default=False,
        ),
    ] = None,
    enrolled: Annotated[
        list[Path] | None,
        typer.Option("--enrolled", help="Enrolled photo (JPEG/PNG); repeat or list several."),
    ] = None,
    probe: Annotated[
        Path | None, typer.Option("--probe", help="The check-in photo to judge.")
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option("--pairs", help="CSV with header 'enrolled,probe'; ';' between enrolled."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Cosine threshold for 'verified' (default: the pinned one)."),
    ] = None,
) -> None:
    """Judge probe photo(s) against enrolled photo(s) and print JSON (see module docs)."""
    from openatd.checkins.face import DEFAULT_THRESHOLD, OpenCVFaceVerifier

    single = [*(enrolled or []), *(more_enrolled or [])]
    if pairs is not None and (single or probe is not None):
        raise typer.BadParameter("use either --pairs FILE or --enrolled ... --probe ..., not both")
    if pairs is None and (not enrolled or probe is None):
        raise typer.BadParameter("give --enrolled A.jpg [B.jpg ...] --probe C.jpg, or --pairs FILE")
    try:
        verifier = OpenCVFaceVerifier.from_installed_package(
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold
        )
    except VerificationUnavailable as exc:
        typer.echo(f"face verification unavailable: {exc}", err=True)
        raise typer.Exit(3) from exc
    try:
        _run(_Checker(verifier), single, probe, pairs)
    except VerificationUnavailable as exc:
        typer.echo(f"face verification unavailable: {exc}", err=True)
        raise typer.Exit(3) from exc


def _run(checker: _Checker, single: list[Path], probe: Path | None, pairs: Path | None) -> None:
    if pairs is None:
        assert probe is not None
        try:
            _emit(_pair(single, probe) | checker.check(single, probe))
        except InvalidInput as exc:
            _emit(_pair(single, probe) | {"error": str(exc)})
            raise typer.Exit(1) from exc
        return

    failed = 0
    try:
        handle = pairs.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {pairs}: {exc.strerror}") from exc
    with handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        if header != ["enrolled", "probe"]:
            raise typer.BadParameter(f"{pairs}: the header row must be 'enrolled,probe'")
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            enrolled_paths = _split_paths(row[0]) if row else []
            probe_cell = row[1].strip() if len(row) > 1 else ""
            echo: dict[str, object] = {"line": number} | _pair(enrolled_paths, probe_cell)
            try:
                if len(row) != 2:
                    raise InvalidInput(f"{pairs} line {number}: expected 2 columns, got {len(row)}")
                if not enrolled_paths or not probe_cell:
                    raise InvalidInput(f"{pairs} line {number}: empty enrolled or probe cell")
                _emit(echo | checker.check(enrolled_paths, Path(probe_cell)))
            except InvalidInput as exc:
                failed += 1
                _emit(echo | {"error": str(exc)})
    if failed:
        raise typer.Exit(1)


@face_app.command("rotate-keys")
def rotate_keys(
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
) -> None:
    """Re-seal every stored face template under the first key of OPENATD_TEMPLATE_KEY.

    Put the new key first (``OPENATD_TEMPLATE_KEY=<new>,<old>``), run this, then drop the old
    key. One transaction: if any template opens with none of the keys, nothing changes.
    """
    from openatd.checkins.service import rotate_template_keys
    from openatd.checkins.templates import parse_keys
    from openatd.settings import get_settings
    from openatd.storage.db import Database

    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.uow() as uow:
            count = rotate_template_keys(uow, parse_keys(settings.template_key))
    finally:
        db.dispose()
    typer.echo(f"{count} face template(s) re-sealed under the first key")


@face_app.command("figures")
def figures() -> None:
    """Print the published accuracy, fairness and latency figures (docs/face.md) as Markdown.

    They are the ones shipped in the package (``checkins/face_figures.json``, written by
    ``bench/face.py --write-figures``): each rate is k of n with its 95 % Wilson interval.
    """
    from openatd.checkins.face_figures import load_face_figures, rate_rows

    data = load_face_figures()
    typer.echo(
        f"Face check-in, measured {data.get('measured_on', '?')} on the test half "
        f"({data.get('people', {}).get('test', '?')} people never used to choose the threshold), "
        f"threshold {data['threshold']}, {data.get('enrolment_photos', '?')}-photo enrolment."
    )
    typer.echo("")
    typer.echo("| group | people | measure | k / n | rate | 95 % interval |")
    typer.echo("|---|---|---|---|---|---|")
    for row in rate_rows(data):
        rate = "n/a" if row.percent is None else f"{row.percent:.3f} %"
        typer.echo(
            f"| {row.group} | {row.people} | {row.label} | {row.k} / {row.n} | {rate} | "
            f"{row.low_percent:.3f}-{row.high_percent:.3f} % |"
        )
    latency = data["latency_ms"]
    typer.echo("")
    for key, label in (("lfw_250px", "250 px photo"), ("phone_12mp", "12 MP phone photo")):
        wall, cpu = latency.get(key, {}), latency.get(f"{key}_cpu", {})
        typer.echo(
            f"Latency of a full check-in, {label}, one core: p95 {wall.get('p95', '?')} ms"
            f" wall clock, {cpu.get('p95', '?')} ms CPU time."
        )
    if "latency_note" in data:
        typer.echo(str(data["latency_note"]))
    typer.echo("")
    typer.echo("Limits:")
    for line in data["limits"]:
        typer.echo(f"- {line}")
