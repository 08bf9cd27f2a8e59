"""The ``openatd`` command: one Typer app, one module per command group."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="openatd",
    help="OpenATD: supervision for alternatives-to-detention programs, built to be audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Each module registers its commands on ``app`` with ``register(app)``.
_COMMAND_MODULES = (
    "serve",
    "users",
    "replay",
    "demo",
    "scenario",
    "audit",
    "retention",
    "decode",
    "simulate",
    "face",
)


def _register() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"openatd.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"openatd.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(app)


_register()


def main() -> None:
    """Entry point of the ``openatd`` console script."""
    app()
