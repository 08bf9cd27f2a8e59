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
    "stats",
    "backup",
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
    """Entry point of the ``openatd`` console script.

    Configuration mistakes (a default secret in production, a setting that is
    not a number, a database that refuses the connection) end with one line
    saying what to fix and exit status 2, not a traceback.
    """
    import sys

    from pydantic import ValidationError

    from openatd.errors import ConfigurationError

    try:
        app()
    except ConfigurationError as exc:
        print(f"openatd: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{_setting_name(tuple(e['loc']), sys.argv[1:])}: {e['msg']}" for e in exc.errors()
        )
        print(f"openatd: invalid setting: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


def _setting_name(loc: tuple[object, ...], argv: list[str]) -> str:
    """How the user gave a setting: ``--http-port (OPENATD_HTTP_PORT)`` when that option is on
    the command line, else its environment variable ``OPENATD_HTTP_PORT``."""
    field = "_".join(str(p) for p in loc)
    env = f"OPENATD_{field.upper()}"
    option = "--" + field.replace("_", "-")
    if any(arg == option or arg.startswith(option + "=") for arg in argv):
        return f"{option} ({env})"
    return env
