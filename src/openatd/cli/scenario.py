"""``openatd scenario``: run rule scenarios through the real engine and check their alerts."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from openatd.errors import InvalidInput
from openatd.rules.scenario import check_scenario, load_scenario, run_scenario

scenario_app = typer.Typer(
    help="Rule scenarios: one participant's zones and one device's messages, with the alerts "
    "a correct system raises.",
    no_args_is_help=True,
)


@scenario_app.command("run")
def run_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="scenario JSON file"),
) -> None:
    """Print the alerts a scenario raises, one JSON object per line."""
    try:
        scenario = load_scenario(file)
    except InvalidInput as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for alert in run_scenario(scenario).alerts:
        data = alert.to_json()
        line = {k: data[k] for k in ("type", "zone", "at", "category", "explanation")}
        typer.echo(json.dumps(line, ensure_ascii=False))


@scenario_app.command("check")
def check_command(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="scenario files"),
) -> None:
    """Check scenarios against their ``expect``; exit 1 if any differs (2 if one is malformed)."""
    failed = 0
    broken = 0
    for file in files:
        try:
            scenario = load_scenario(file)
        except InvalidInput as exc:
            typer.echo(f"ERROR {file.name}: {exc}")
            broken += 1
            continue
        for warning in scenario.warnings:
            typer.echo(f"warning {file.name}: {warning}", err=True)
        result = check_scenario(scenario)
        status = "ok  " if result.ok else "FAIL"
        typer.echo(f"{status} {file.name}: {len(result.alerts)} alert(s) raised")
        for problem in result.problems:
            typer.echo(f"     {problem}")
        if not result.ok:
            failed += 1
    total = len(files)
    typer.echo(f"{total - failed - broken} of {total} scenario(s) passed")
    if broken:
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``scenario`` command group to the ``openatd`` app."""
    app.add_typer(scenario_app, name="scenario")
