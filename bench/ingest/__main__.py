"""Ingest throughput: how fast one worker drains a broker queue into InfluxDB, and its memory.

    .venv/bin/python bench/ingest [--packs 20000] [--records 12]

Packs are queued in the broker while the worker is stopped (so the publisher is not what is
measured); then a fresh `hof ingest` process is started and timed until every point is stored.
Everything runs on this machine: a private Mosquitto and InfluxDB on loopback ports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hof.metrics import parse_text
from hof.senml import Record, encode_pack
from hof.settings import Settings
from hof.stack import Stack

NAMES = [("temperature", "Cel", 19.5), ("humidity", "%RH", 64.0), ("co2", "ppm", 720.0)]


def queue_packs(settings: Settings, packs: int, records: int, homes: int) -> float:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert settings.simulator.mqtt_password is not None
    client.username_pw_set(
        settings.simulator.mqtt_username, settings.simulator.mqtt_password.get_secret_value()
    )
    client.max_inflight_messages_set(500)
    client.max_queued_messages_set(0)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    start_ms = int((time.time() - 30 * 86400) * 1000)
    steps = max(1, records // len(NAMES))
    infos = []
    began = time.perf_counter()
    for i in range(packs):
        home, device = f"BENCH-{i % homes:05d}", f"env-{i % homes:05d}"
        base = start_ms + (i // homes) * steps * 300_000
        batch = [
            Record(home, device, name, base + step * 300_000, value + step * 0.1, unit)
            for step in range(steps)
            for name, unit, value in NAMES
        ]
        topic = f"hof/v1/{home}/{device}/reading"
        infos.append(client.publish(topic, encode_pack(device, batch), qos=1))
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - began
    client.disconnect()
    client.loop_stop()
    return elapsed


def scrape(url: str) -> dict[str, float]:
    samples = parse_text(httpx.get(url, timeout=5).text)
    return {name: sum(v.values()) for name, v in samples.items()}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=12, help="records per pack")
    parser.add_argument("--homes", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        stack = Stack(Settings(state_dir=state))
        stack.up()
        try:
            env = {
                **os.environ,
                "HOF_STATE_DIR": str(state),
                "HOF_LOG_LEVEL": "WARNING",
                "HOF_INGEST__CLIENT_ID": "bench",
            }
            registration = state / "run" / "ingest-bench.json"

            def start() -> subprocess.Popen[bytes]:
                registration.unlink(missing_ok=True)
                proc = subprocess.Popen(
                    [sys.executable, "-m", "hof.cli", "ingest"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                while True:
                    if registration.exists():
                        url = json.loads(registration.read_text())["url"]
                        if scrape(url).get("hof_ingest_ready") == 1.0:
                            return proc
                    time.sleep(0.05)

            worker = start()  # make the persistent session, then stop so the queue builds
            worker.terminate()
            worker.wait()
            settings = Settings(state_dir=state, **stack.info.settings())
            pub_s = queue_packs(settings, args.packs, args.records, args.homes)
            expected_records = args.packs * (args.records // len(NAMES)) * len(NAMES)
            began = time.perf_counter()
            worker = start()
            url = json.loads(registration.read_text())["url"]
            expected_points = args.packs * (args.records // len(NAMES))
            while (m := scrape(url)).get("hof_ingest_points_written_total", 0) < expected_points:
                time.sleep(0.02)
            elapsed = time.perf_counter() - began
            peak = rss_mib(worker.pid)
            worker.terminate()
            worker.wait()
        finally:
            stack.down()
    print(
        f"ingest benchmark: {args.packs:,} packs of {args.records} records "
        f"({expected_records:,} records) from {args.homes:,} homes, one worker, loopback"
    )
    print(f"  queued in the broker in {pub_s:.1f} s (publisher, not measured below)")
    print(f"  drained and stored in  {elapsed:.2f} s")
    print(f"  messages/s             {args.packs / elapsed:,.0f}")
    print(f"  records/s              {expected_records / elapsed:,.0f}")
    print(
        f"  points written         {m['hof_ingest_points_written_total']:,.0f} "
        f"({m['hof_ingest_points_written_total'] / elapsed:,.0f}/s)"
    )
    print(f"  worker peak RSS        {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
