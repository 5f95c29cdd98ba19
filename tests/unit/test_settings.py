"""Settings are read from SPECTARE_* by one loader, converted by each field's type.

Covers: defaults without environment; text converted by annotation (float, int, bool,
Path, Literal, Optional, comma-separated or JSON lists, secrets, the camera spec);
bounds (gt, ge/le, ge=1) checked for the environment and for overrides alike, the error
naming every bad variable; unknown SPECTARE_* variables ignored, unknown overrides
refused; secrets never shown; every field described; the operator's settings loaded
the same way; and the CLI turning bad settings into one clear error.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from spectare.camera import CameraSpecView, Transport
from spectare.cli import main
from spectare.envsettings import description
from spectare.operator import load_settings as operator_settings
from spectare.operator.config import OperatorSettings
from spectare.secret import Secret
from spectare.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("SPECTARE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_without_environment_every_default_holds() -> None:
    settings = load_settings()
    assert settings == dataclasses.replace(Settings(), worker_id=settings.worker_id)
    assert settings.footage_dir == Path("footage") and settings.max_workers is None
    assert settings.api_cors_origins == [] and settings.camera_spec is None


def test_text_is_converted_by_the_fields_type(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in {
        "STALL_SECONDS": "7.5", "API_PORT": "9000", "API_READ_AUTH": "Yes",
        "FOOTAGE_DIR": "/srv/f", "LOG_FORMAT": "json", "MAX_WORKERS": "3",
        "API_CORS_ORIGINS": "https://a, https://b,", "API_TOKEN": "t0k",
        "CAMERA_SPEC": '{"url": "rtsp://cam/1", "transport": "udp"}', "UNKNOWN_THING": "x",
    }.items():  # fmt: skip
        clean_env.setenv(f"SPECTARE_{name}", value)
    settings = load_settings()
    assert settings.stall_seconds == 7.5 and settings.api_port == 9000
    assert settings.api_read_auth is True and settings.footage_dir == Path("/srv/f")
    assert settings.log_format == "json" and settings.max_workers == 3
    assert settings.api_cors_origins == ["https://a", "https://b"]
    assert settings.api_token == Secret("t0k")
    assert settings.camera_spec == CameraSpecView(url="rtsp://cam/1", transport=Transport.UDP)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STALL_SECONDS", "-1", "SPECTARE_STALL_SECONDS: must be > 0, got '-1'"),
        ("STALL_SECONDS", "soon", "SPECTARE_STALL_SECONDS: must be a number, got 'soon'"),
        ("API_PORT", "70000", "SPECTARE_API_PORT: must be <= 65535, got '70000'"),
        ("API_PORT", "-1", "SPECTARE_API_PORT: must be >= 0, got '-1'"),
        ("MAX_WORKERS", "0", "SPECTARE_MAX_WORKERS: must be >= 1, got '0'"),
        ("API_READ_AUTH", "maybe", "SPECTARE_API_READ_AUTH: must be true or false"),
        ("CONTAINER", "avi", "SPECTARE_CONTAINER: must be one of 'mp4', 'ts', 'mkv'"),
        ("CAMERA_SPEC", "{", "SPECTARE_CAMERA_SPEC: not JSON"),
    ],
)
def test_a_bad_variable_is_named(
    clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    clean_env.setenv(f"SPECTARE_{name}", value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert message in str(error.value)


def test_every_bad_variable_is_named_at_once(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SPECTARE_STALL_SECONDS", "0")
    clean_env.setenv("SPECTARE_API_PORT", "x")
    with pytest.raises(SettingsError, match=r"STALL_SECONDS.*; SPECTARE_API_PORT"):
        load_settings()


def test_overrides_are_checked_too_and_win(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SPECTARE_API_PORT", "9000")
    assert load_settings(api_port=0, footage_dir="data").footage_dir == Path("data")
    assert load_settings(api_port=0).api_port == 0
    with pytest.raises(SettingsError, match="SPECTARE_MAX_WORKERS: must be >= 1, got '0'"):
        load_settings(max_workers=0)
    with pytest.raises(SettingsError, match="SPECTARE_API_PORT: must be an integer"):
        load_settings(api_port=True)
    with pytest.raises(TypeError, match="stall_secs"):
        load_settings(stall_secs=3)


def test_secrets_are_never_shown(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SPECTARE_CAMERA_PASSWORD", "hunter2")
    settings = load_settings()
    assert settings.camera_password is not None
    assert settings.camera_password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.camera_password)


def test_every_setting_is_described() -> None:
    for cls in (Settings, OperatorSettings):
        for field in dataclasses.fields(cls):
            assert len(description(cls, field.name)) > 5, field.name


def test_the_operator_reads_its_settings_the_same_way(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SPECTARE_WORKER_COMMAND", '["python", "-P", "-m", "spectare", "worker"]')
    clean_env.setenv("SPECTARE_SCAN_SECONDS", "2")
    settings = operator_settings(store="sqlite:///x.db")
    assert settings.worker_command == ["python", "-P", "-m", "spectare", "worker"]
    assert settings.scan_seconds == 2.0 and settings.store == "sqlite:///x.db"
    assert OperatorSettings().worker_command == ["spectare", "worker"]
    clean_env.setenv("SPECTARE_API_CONCURRENCY", "1")
    with pytest.raises(SettingsError, match="SPECTARE_API_CONCURRENCY: must be >= 2"):
        operator_settings()


def test_the_cli_turns_bad_settings_into_one_clear_error(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SPECTARE_STALL_SECONDS", "-1")
    result = CliRunner().invoke(main, ["worker", "--camera", "gate"])
    assert result.exit_code == 1
    assert "bad SPECTARE_* environment: SPECTARE_STALL_SECONDS: must be > 0" in result.output
