"""The local stack and the real parts' configs: secure, nothing dropped, stopped cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hofsupport import hof_cli

from hof.errors import StackError
from hof.settings import Settings, endpoints_path
from hof.stack import Stack
from hof.stack.mosquitto import mqtt_connect_rc
from hof.stack.ports import free_port
from hof.stack.process import pid_runs

NOT_AUTHORISED = 5  # MQTT 3.1.1 CONNACK return code


def test_broker_refuses_anonymous_and_wrong_passwords(stack: Stack) -> None:
    broker = stack.broker
    for port in (broker.port, broker.platform_port):
        assert mqtt_connect_rc(broker.host, port, "", "") == NOT_AUTHORISED
        assert mqtt_connect_rc(broker.host, port, "platform", "guess") == NOT_AUTHORISED
    platform = stack.credentials["mqtt_platform"]
    assert mqtt_connect_rc(broker.host, broker.platform_port, "platform", platform) == 0
    # The platform's accounts are not accepted where devices connect.
    assert mqtt_connect_rc(broker.host, broker.port, "platform", platform) == NOT_AUTHORISED


def test_device_reaches_only_its_own_topics(device: Any, watcher: Any, home_id: str) -> None:
    """A device's credential is `{home}/{device}`; the ACL confines it to those topics."""
    seen = watcher("hof/v1/#")
    mine = device("env-1")
    mine.publish("reading", b"[]")
    # Mosquitto acknowledges a denied publish too (MQTT 3.1.1 has no way to refuse one), but
    # never delivers it.
    info = mine.client.publish(f"hof/v1/{home_id}-other/env-1/reading", b"[]", qos=1)
    info.wait_for_publish(5)
    mine.publish("status", b'{"state":"online"}')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len([t for t, _ in seen.messages if home_id in t]) < 2:
        time.sleep(0.05)
    time.sleep(0.3)
    topics = [t for t, _ in seen.messages if home_id in t and "deadletter" not in t]
    assert topics == [f"hof/v1/{home_id}/env-1/reading", f"hof/v1/{home_id}/env-1/status"]


def test_influxdb_requires_a_credential(stack: Stack) -> None:
    response = httpx.post(f"{stack.influx.url}/query", params={"q": "SHOW DATABASES"})
    assert response.status_code == 401


def test_rendered_configs_carry_the_settings_that_prevent_loss(stack: Stack) -> None:
    broker = stack.broker.config_path.read_text()
    for line in (
        "allow_anonymous false",
        "persistence true",
        "max_queued_messages 2000000",
        "max_queued_bytes 0",
        f"listener {stack.broker.port} 127.0.0.1",
    ):
        assert f"\n{line}\n" in broker
    influx = stack.influx.config_path.read_text()
    for line in (
        "reporting-disabled = true",
        "max-values-per-tag = 0",
        "max-series-per-database = 0",
        "auth-enabled = true",
    ):
        assert line in influx
    assert oct(stack.broker.passwd_path.stat().st_mode & 0o777) == "0o600"
    creds = stack.settings.state_dir.resolve() / "stack" / "credentials.json"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"


def _hof(state: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return hof_cli({**os.environ, "HOF_STATE_DIR": str(state)}, *args, **kw)


def test_detached_up_then_down_stops_exactly_what_it_started(tmp_path: Path) -> None:
    up = _hof(tmp_path, "stack", "up", "--detach")
    assert up.returncode == 0, up.stderr
    record = json.loads(endpoints_path(tmp_path).read_text())
    pids, markers = record["pids"], record["markers"]
    assert all(pid_runs(pid, markers[name]) for name, pid in pids.items())
    assert _hof(tmp_path, "stack", "status").stdout.strip() == "running: mosquitto, influxdb"
    again = _hof(tmp_path, "stack", "up", "--detach")
    assert again.returncode == 2
    assert "already running" in again.stderr
    down = _hof(tmp_path, "stack", "down")
    assert down.stdout.strip() == "stopped: mosquitto, influxdb"
    assert not any(pid_runs(pid, markers[name]) for name, pid in pids.items())
    assert not endpoints_path(tmp_path).exists()
    assert _hof(tmp_path, "stack", "status").returncode == 1


def test_ctrl_c_stops_a_foreground_stack(tmp_path: Path) -> None:
    env = {**os.environ, "HOF_STATE_DIR": str(tmp_path)}
    with subprocess.Popen(
        [sys.executable, "-m", "hof.cli", "stack", "up"], env=env, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        assert "stack is up" in lines[0]
        record = json.loads(endpoints_path(tmp_path).read_text())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    assert not any(pid_runs(pid, record["markers"][n]) for n, pid in record["pids"].items())


def test_a_part_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, stack={"influxd_bin": "/bin/false"})
    with pytest.raises(Exception, match="influxdb exited at start-up"):
        Stack(settings).up()
    assert not endpoints_path(tmp_path).exists()


def test_credentials_are_made_once_per_state_dir(make_stack: Callable[[], Any]) -> None:
    first, _ = make_stack()
    again = Stack(Settings(state_dir=first.settings.state_dir))
    assert again.credentials == first.credentials
    assert len(set(first.credentials.values())) == 3


def test_a_provisioned_device_still_connects_after_the_stack_restarts(tmp_path: Path) -> None:
    """Issue 11, 7: `hof stack up` wrote the password file afresh with the platform's accounts
    only, locking out every device `hof provision` had made."""
    assert _hof(tmp_path, "stack", "up", "--detach").returncode == 0
    try:
        made = _hof(tmp_path, "provision", "--home", "H-1", "--out", str(tmp_path / "d.json"))
        assert made.returncode == 0, made.stderr
        cfg = json.loads((tmp_path / "d.json").read_text())

        def device_rc() -> int:
            record = json.loads(endpoints_path(tmp_path).read_text())
            port = record.get("mqtt_device_port", record["mqtt_port"])
            deadline = time.monotonic() + 5
            while True:  # the broker reads its password file a moment after SIGHUP
                rc = mqtt_connect_rc(cfg["broker_host"], port, cfg["username"], cfg["password"])
                if rc == 0 or time.monotonic() > deadline:
                    return rc
                time.sleep(0.1)

        assert device_rc() == 0
        assert _hof(tmp_path, "stack", "down").returncode == 0
        assert _hof(tmp_path, "stack", "up", "--detach").returncode == 0
        assert device_rc() == 0
    finally:
        _hof(tmp_path, "stack", "down")


def test_device_credentials_are_refused_on_the_platform_listener(stack: Stack) -> None:
    """Only the platform's own accounts log in where services connect (and may choose their
    client ids); a device's or gateway's credential works only on the devices' listener."""
    broker = stack.broker
    broker.add_user("H-2/env-1", "a-device-password")
    deadline = time.monotonic() + 5
    while mqtt_connect_rc(broker.host, broker.port, "H-2/env-1", "a-device-password") != 0:
        assert time.monotonic() < deadline, "the device's credential never worked"
        time.sleep(0.1)
    rc = mqtt_connect_rc(broker.host, broker.platform_port, "H-2/env-1", "a-device-password")
    assert rc == NOT_AUTHORISED
    config = broker.config_path.read_text()
    devices = config[config.index(f"\nlistener {broker.port} ") :]
    assert "\nuse_username_as_clientid true\n" in devices


def test_free_port_never_names_the_same_port_twice_in_a_process() -> None:
    """CI: a Mosquitto got 42403 for both of its listeners and exited "Address already in use".

    The kernel may hand the port just closed to the next bind to port 0; over a thousand calls
    the old `free_port` repeated itself many times over.
    """
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)


def _hold(port: int) -> socket.socket:
    """Another process's listener on `port`, taken after our part chose it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_a_stack_whose_chosen_ports_are_taken_meanwhile_starts_on_new_ones(
    tmp_path: Path,
) -> None:
    """Test workers start stacks at once: a port chosen free may be taken before it is bound."""
    state = tmp_path / "state"
    running = Stack(Settings(environment="test", state_dir=state))
    taken = [running.broker.port, running.broker.platform_port, running.influx.port]
    held = [_hold(port) for port in taken]
    try:
        running.up()
        try:
            assert not {running.broker.port, running.broker.platform_port} & set(taken)
            assert running.influx.port not in taken
            platform = running.credentials["mqtt_platform"]
            broker = running.broker
            assert mqtt_connect_rc(broker.host, broker.platform_port, "platform", platform) == 0
            assert httpx.get(f"{running.influx.url}/ping").status_code == 204
            endpoints = json.loads(endpoints_path(state).read_text())
            assert str(running.broker.platform_port) in json.dumps(endpoints)
        finally:
            running.down()
    finally:
        for sock in held:
            sock.close()


def test_a_port_the_settings_name_is_not_changed_when_taken(tmp_path: Path) -> None:
    """An operator's port is theirs: a clear error, not a broker quietly listening elsewhere."""
    port = free_port()
    held = _hold(port)
    try:
        settings = Settings(environment="test", state_dir=tmp_path / "state")
        settings = settings.model_copy(
            update={"stack": settings.stack.model_copy(update={"mosquitto_platform_port": port})}
        )
        running = Stack(settings)
        with pytest.raises(StackError, match="in use"):
            running.up()
        assert running.broker.platform_port == port
    finally:
        held.close()
