"""One settings model: environment, TOML file, the stack's endpoints; secrets guarded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hof.cli import main
from hof.errors import ConfigError
from hof.settings import endpoints_path, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("HOF_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOF_STATE_DIR", str(tmp_path / "var"))


def test_environment_overrides_file_overrides_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = endpoints_path(tmp_path / "var")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"settings": {"mqtt": {"port": 1111, "host": "127.0.0.2"}}}))
    assert load_settings().mqtt.port == 1111
    (tmp_path / "hof.toml").write_text("[mqtt]\nport = 2222\n")
    settings = load_settings()
    assert (settings.mqtt.port, settings.mqtt.host) == (2222, "127.0.0.2")
    monkeypatch.setenv("HOF_MQTT__PORT", "3333")
    assert load_settings().mqtt.port == 3333


def test_bad_values_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOF_MQTT__PORT", "99999")
    with pytest.raises(ConfigError, match=r"mqtt\.port"):
        load_settings()


def test_named_config_file_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOF_CONFIG", "/nonexistent/hof.toml")
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


def test_production_refuses_placeholder_secrets_and_plain_mqtt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOF_ENVIRONMENT", "production")
    monkeypatch.setenv("HOF_MQTT__TLS", "true")
    monkeypatch.setenv("HOF_MQTT__PASSWORD", "changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings()
    monkeypatch.setenv("HOF_MQTT__PASSWORD", "a-real-long-secret")
    monkeypatch.setenv("HOF_MQTT__TLS", "false")
    with pytest.raises(ConfigError, match="tls"):
        load_settings()


def test_hof_config_prints_settings_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOF_MQTT__PASSWORD", "s3cret-value")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-value" not in out
    assert json.loads(out)["mqtt"]["password"] == "**********"


def test_cli_reports_config_errors_plainly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOF_INFLUX__TIMEOUT_S", "-1")
    assert main(["config"]) == 2
    assert "influx.timeout_s" in capsys.readouterr().err


def test_production_refuses_plain_listeners_for_devices_and_gateways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Devices and gateways cross the internet: in production they are given the broker's TLS
    listener only (its devices' endpoint with tls on, and never MQTT's plain port 1883)."""
    monkeypatch.setenv("HOF_ENVIRONMENT", "production")
    monkeypatch.setenv("HOF_MQTT__TLS", "true")
    monkeypatch.setenv("HOF_MQTT__PORT", "8883")
    monkeypatch.setenv("HOF_MQTT__PASSWORD", "a-real-long-secret")
    monkeypatch.setenv("HOF_DEVICES__PORT", "8883")
    with pytest.raises(ConfigError, match=r"devices\.tls must be on in production"):
        load_settings()
    monkeypatch.setenv("HOF_DEVICES__TLS", "true")
    assert load_settings().devices.port == 8883
    for name in ("HOF_MQTT__PORT", "HOF_DEVICES__PORT"):  # a gateway's uplink, a device's
        monkeypatch.setenv(name, "1883")
        with pytest.raises(ConfigError, match="plain-text port"):
            load_settings()
        monkeypatch.setenv(name, "8883")
