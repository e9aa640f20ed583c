"""The firmware's MQTT client, on MicroPython: exact bytes against a fake socket, and a real
session with Mosquitto under a provisioned credential."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from fw_support import FIRMWARE, MICROPYTHON

from hof.provision import provision
from hof.settings import Settings

HERE = Path(__file__).parent


def _mp(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [MICROPYTHON, str(HERE / script), str(FIRMWARE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_packets_are_byte_exact() -> None:
    out = _mp("mp_mqtt_packets.py")
    assert out.strip().endswith("ALL OK"), out


def test_drivers_speak_the_parts_protocols_and_sampling_allocates_nothing(tmp_path: Path) -> None:
    trace = tmp_path / "acc.bin"
    trace.write_bytes(
        (100).to_bytes(2, "little", signed=True)
        + (-200).to_bytes(2, "little", signed=True)
        + (980).to_bytes(2, "little", signed=True)
    )
    world = {
        "time_scale": 10,
        "sht4x": {"temp": [[0, 21.5]], "rh": [[0, 60]]},
        "sht3x": {"temp": [[0, 10]], "rh": [[0, 90]]},
        "surface": {},
        "crc_error": ["surface"],
        "scd4x": {"co2": [[0, 1234]], "temp": [[0, 20]]},
        "adxl345": {"trace": str(trace)},
        "mpu6050": {"trace": str(trace)},
        "inputs": {"button": [], "pir": [[0, 1]]},
    }
    (tmp_path / "sim.json").write_text(json.dumps(world))
    env = {"HOF_FW_SIM": str(tmp_path / "sim.json"), "HOF_FW_STATE": str(tmp_path)}
    out = _mp("mp_drivers.py", env=env)
    assert out.strip().endswith("ALL OK"), out


def test_a_real_session_with_mosquitto(settings: Settings, home_id: str, tmp_path: Path) -> None:
    made = provision(settings, home=home_id, kind="env", out=tmp_path / "c.json")
    out = _mp(
        "mp_mqtt_live.py",
        settings.mqtt.host,
        str(settings.devices.port),  # the devices' listener
        home_id,
        made.device,
        made.password,
    )
    assert "acked True pingresp True suback True" in out, out
    assert (
        f"retained [(b'hof/v1/{home_id}/{made.device}/status', b'{{\"state\":\"online\"}}')]" in out
    ), out
    assert out.strip().endswith("DONE"), out
