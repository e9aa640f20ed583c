"""`hof provision`: each device its own id and password, registered with the running broker."""

from __future__ import annotations

import argparse
import json
import stat
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hof.errors import ConfigError, StackError
from hof.provision import add_arguments, provision, register_credential, run
from hof.settings import Settings


def _try(settings: Settings, username: str, password: str) -> int:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.username_pw_set(username, password)
    codes: list[int] = []
    client.on_connect = lambda c, u, f, rc, p: codes.append(rc.value)
    assert settings.devices.port is not None
    client.connect(settings.devices.host or settings.mqtt.host, settings.devices.port)
    end = time.monotonic() + 2
    while not codes and time.monotonic() < end:
        client.loop(0.05)
    client.disconnect()
    return codes[0] if codes else -1


def _connect_rc(settings: Settings, username: str, password: str) -> int:
    """The broker's CONNACK code for this credential (0 accepted, 5 not authorised)."""
    deadline = time.monotonic() + 5
    while True:  # the broker re-reads its password file a moment after SIGHUP
        code = _try(settings, username, password)
        if code == 0 or time.monotonic() > deadline:
            return code
        time.sleep(0.1)


def test_each_device_gets_its_own_working_credential(
    settings: Settings, home_id: str, tmp_path: Path
) -> None:
    a = provision(settings, home=home_id, kind="env", out=tmp_path, interval_s=120)
    b = provision(settings, home=home_id, kind="telecare", out=tmp_path)
    assert a.device.startswith("env-")
    assert b.device.startswith("tc-")
    assert a.password != b.password
    assert len(a.password) >= 32
    cfg = json.loads(a.config_path.read_text())
    assert cfg["username"] == f"{home_id}/{a.device}"
    assert cfg["password"] == a.password
    # The broker's devices' listener, not the platform's own.
    assert (cfg["broker_host"], cfg["broker_port"]) == (settings.mqtt.host, settings.devices.port)
    assert settings.devices.port != settings.mqtt.port
    assert (cfg["home"], cfg["device"], cfg["interval_s"]) == (home_id, a.device, 120)
    assert stat.S_IMODE(a.config_path.stat().st_mode) == 0o600
    assert _connect_rc(settings, a.username, a.password) == 0
    assert _connect_rc(settings, b.username, b.password) == 0
    assert _connect_rc(settings, a.username, b.password) != 0


def test_a_device_provisioned_back_to_back_is_accepted_at_once(
    settings: Settings, home_id: str, tmp_path: Path
) -> None:
    """Installers provision a home's devices in a row; each must connect as soon as it is made.

    Before, provisioning returned on sending the broker a SIGHUP: its reload came later, and a
    SIGHUP landing during another device's reload was lost (Mosquitto clears its reload flag when
    a reload ends), so a device could stay refused (CI: CONNACK 135 for the second of two).
    That race needs a loaded machine and does not reproduce here on demand; this checks the
    promise that closes it: once `provision` returns, the broker has accepted the credential.
    """
    made = [provision(settings, home=home_id, kind="env", out=tmp_path) for _ in range(6)]
    assert [_try(settings, p.username, p.password) for p in made] == [0] * 6


def test_the_command_writes_the_config(settings: Settings, home_id: str, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "pendant.json"
    args = parser.parse_args(
        ["--home", home_id, "--kind", "telecare", "--device", "tc-hall", "--out", str(out)]
    )
    assert run(args, settings) == 0
    cfg = json.loads(out.read_text())
    assert (cfg["device"], cfg["kind"], cfg["username"]) == (
        "tc-hall",
        "telecare",
        f"{home_id}/tc-hall",
    )


@pytest.mark.parametrize(
    ("home", "kind", "interval"),
    [("bad home", "env", 300), ("H-1", "toaster", 300), ("H-1", "env", 0)],
)
def test_bad_requests_are_refused(
    settings: Settings, tmp_path: Path, home: str, kind: str, interval: float
) -> None:
    with pytest.raises(ConfigError):
        provision(settings, home=home, kind=kind, out=tmp_path, interval_s=interval)
    assert list(tmp_path.iterdir()) == []


def test_no_stack_no_credential(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="password file"):
        register_credential(tmp_path, "H-1/env-1", "secret")
