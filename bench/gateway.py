"""Gateway throughput: records/s committed from the home broker, records/s forwarded to the
platform after an outage, and the durable queue's bytes per record.

    .venv/bin/python bench/gateway.py [--devices 10] [--days 2] [--names 3]

A real `hof gateway` process between two private Mosquitto brokers on loopback. The platform
broker is down while the devices publish `--days` of 5-minute readings (one message a step, as
fast as the home broker takes them), so the queue fills; then it comes back and the drain is
timed until the queue is empty (every record acknowledged by the platform broker).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hof.metrics import parse_text
from hof.settings import Settings
from hof.stack import Stack

NAMES = [
    ("temperature", "Cel", 19.5),
    ("humidity", "%RH", 64.0),
    ("co2", "ppm", 720.0),
    ("battery", "%EL", 80.0),
]


def metric(state: Path, name: str) -> float:
    try:
        url = json.loads((state / "run" / "gateway-bench.json").read_text())["url"]
        samples = parse_text(httpx.get(url, timeout=2).text)
    except (OSError, ValueError, KeyError, httpx.HTTPError):
        return -1.0
    return sum(samples.get(name, {}).values()) if name in samples else -1.0


def wait(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise SystemExit("timed out")


def publish(settings: Settings, home: str, devices: int, steps: int, names: int) -> int:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert settings.simulator.mqtt_password is not None
    client.username_pw_set(
        settings.simulator.mqtt_username, settings.simulator.mqtt_password.get_secret_value()
    )
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    start = time.time() - steps * 300 - 600
    infos = []
    records = 0
    for step in range(steps):
        for d in range(devices):
            pack: list[dict[str, object]] = [
                {"n": name, "u": unit, "v": value + (step % 7) / 10}
                for name, unit, value in NAMES[:names]
            ]
            pack[0] = {"bn": f"env-{d}/", "bt": start + step * 300, **pack[0]}
            infos.append(client.publish(f"hof/v1/{home}/env-{d}/reading", json.dumps(pack), qos=1))
            records += names
        if len(infos) >= 2000:  # in waves, so paho's own queue stays small
            for info in infos:
                info.wait_for_publish(60)
            infos.clear()
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--names", type=int, default=3, choices=range(1, len(NAMES) + 1))
    args = parser.parse_args()
    steps = int(args.days * 288)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home_stack = Stack(Settings(environment="test", state_dir=root / "home"))
        platform = Stack(Settings(environment="test", state_dir=root / "platform"))
        home_stack.up()
        platform.up()
        gw_state = root / "gw"
        gw_state.mkdir()
        proc = None
        try:
            home = "BENCH-GW-1"
            password = secrets.token_urlsafe(16)
            platform.broker.add_user(home, password)
            local = home_stack.info.settings()["mqtt"]
            home_settings = Settings(
                environment="test", state_dir=root / "home", **home_stack.info.settings()
            )
            platform.broker.stop()  # the internet is down while the readings come in
            env = {
                **os.environ,
                "HOF_STATE_DIR": str(gw_state),
                "HOF_ENVIRONMENT": "test",
                "HOF_LOG_FORMAT": "json",
                "HOF_LOG_LEVEL": "WARNING",
                "HOF_GATEWAY__CLIENT_ID": "bench",
                "HOF_GATEWAY__HOME": home,
                "HOF_GATEWAY__LOCAL__HOST": local["host"],
                "HOF_GATEWAY__LOCAL__PORT": str(local["port"]),
                "HOF_GATEWAY__LOCAL__USERNAME": local["username"],
                "HOF_GATEWAY__LOCAL__PASSWORD": local["password"],
                "HOF_MQTT__HOST": platform.broker.host,
                "HOF_MQTT__PORT": str(platform.broker.port),
                "HOF_MQTT__USERNAME": home,
                "HOF_MQTT__PASSWORD": password,
            }
            with (gw_state / "gateway.log").open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "hof.cli", "gateway"], env=env, stdout=log, stderr=log
                )
            wait(lambda: metric(gw_state, "hof_gateway_ready") == 1.0, 30)
            began = time.perf_counter()
            records = publish(home_settings, home, args.devices, steps, args.names)
            wait(lambda: metric(gw_state, "hof_gateway_records_total") >= records, 600)
            intake_s = time.perf_counter() - began
            db = sqlite3.connect(gw_state / "gateway" / "queue.sqlite")
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            queued = sum(
                db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("readings", "events")
            )
            db.close()
            restored = time.perf_counter()
            platform.broker.start()
            wait(lambda: metric(gw_state, "hof_gateway_uplink_connected") == 1.0, 60)
            connected = time.perf_counter()
            wait(lambda: metric(gw_state, "hof_gateway_queue_depth") == 0.0, 600)
            drained = time.perf_counter()
            packs = metric(gw_state, "hof_gateway_packs_total")
            print(
                f"devices {args.devices}, {args.days:g} days of 5-minute readings, "
                f"{args.names} names a message: {records} records"
            )
            print(
                f"intake (home broker -> SQLite, acked): {records / intake_s:,.0f} records/s "
                f"({intake_s:.1f} s, including the publisher)"
            )
            print(
                f"queue: {pages * page_size / queued:.1f} bytes per record "
                f"({pages * page_size / 1e6:.2f} MB for {queued} records)"
            )
            print(
                f"recovery: reconnect {connected - restored:.1f} s, drain "
                f"{drained - connected:.1f} s"
            )
            print(
                f"forwarded (SQLite -> platform, PUBACKed): "
                f"{records / (drained - connected):,.0f} records/s in {packs:.0f} packs "
                f"({records / max(packs, 1):.0f} records a pack)"
            )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
            platform.down()
            home_stack.down()


if __name__ == "__main__":
    main()
