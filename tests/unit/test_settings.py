"""Settings refuse default secrets outside development and malformed template keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from openatd.errors import ConfigurationError
from openatd.settings import DEFAULT_SECRET_KEY, get_settings


def test_development_accepts_defaults() -> None:
    s = get_settings(env="development")
    assert s.secret_key == DEFAULT_SECRET_KEY
    assert s.http_port == 8000 and s.osmand_port == 5055
    assert s.database_url == "sqlite:///openatd.db"


def test_production_refuses_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENATD_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENATD_SECRET_KEY"):
        get_settings(env="production")
    with pytest.raises(ConfigurationError, match="OPENATD_TEMPLATE_KEY"):
        get_settings(env="production", secret_key="x" * 48)
    key = Fernet.generate_key().decode()
    s = get_settings(env="production", secret_key="x" * 48, template_key=f"{key}, {key}")
    assert s.env == "production"


def test_environment_variables_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENATD_HTTP_PORT", "9001")
    monkeypatch.setenv("OPENATD_PROTOCOLS", "gt06, teltonika:6027,")
    s = get_settings()
    assert s.http_port == 9001
    assert s.enabled_protocols == ["gt06", "teltonika:6027"]
    with pytest.raises(ValidationError, match="Fernet"):
        get_settings(template_key="not-a-key")
    monkeypatch.setenv("OPENATD_HTTP_PORT", "abc")
    with pytest.raises(ValidationError):
        get_settings()


@pytest.mark.parametrize("field", ["http_port", "osmand_port"])
@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_a_port_outside_1_to_65535_is_refused_before_anything_binds(field: str, port: int) -> None:
    """A newcomer's ``serve --http-port 70000`` printed a bind() traceback and exited 0."""
    with pytest.raises(ValidationError, match=r"65535|greater than or equal to 1"):
        get_settings(**{field: port})
    assert getattr(get_settings(**{field: 65535}), field) == 65535


def test_simulate_refuses_no_devices_and_no_rate_in_one_line() -> None:
    """``simulate --devices 0`` / ``--rate 0`` ended in an ``InvalidInput`` traceback."""
    from typer.testing import CliRunner

    from openatd.cli.main import app

    for args, option in ((["--devices", "0"], "--devices"), (["--rate", "0"], "--rate")):
        done = CliRunner().invoke(app, ["simulate", *args])
        assert done.exit_code == 2, done.output
        assert option in done.output and "Traceback" not in done.output


def test_a_refused_setting_is_named_as_the_user_gave_it() -> None:
    """``serve --role bogus`` named only OPENATD_ROLE (newcomer finding K): the option given on
    the command line is named with its variable; a setting from the environment by its
    variable alone."""
    from openatd.cli.main import _setting_name

    assert _setting_name(("role",), ["serve", "--role", "bogus"]) == "--role (OPENATD_ROLE)"
    assert _setting_name(("http_port",), ["serve", "--http-port=-1"]) == (
        "--http-port (OPENATD_HTTP_PORT)"
    )
    assert _setting_name(("role",), ["serve", "--http-port", "8000"]) == "OPENATD_ROLE"
    assert _setting_name(("http_port",), ["serve", "--http-portal"]) == "OPENATD_HTTP_PORT"
