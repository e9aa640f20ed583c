"""One ingest worker draining a queue on each broker: Mosquitto vs a 3-node NATS JetStream cluster.

    .venv/bin/python bench/broker.py [--messages 20000] [--records 10] [--runs 1]

For each broker, a private stack (and its own InfluxDB) on loopback: the worker starts once (its
MQTT session or JetStream consumer exists), stops, `--messages` packs of `--records` readings
are published with QoS 1 and queued for it, then it starts again. Printed: the worker's
CPU-seconds per 100,000 readings from ready to the last one stored (from /proc), and readings/s
over that drain. A CPU figure holds on a busy machine where a rate does not (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hofsupport import IngestProcess, influx_query, wait_until
from natsstack import NatsStack

from hof.settings import Settings
from hof.stack import Stack


def publish(settings: Settings, home: str, messages: int, records: int) -> None:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert settings.simulator.mqtt_password is not None
    client.username_pw_set(
        settings.simulator.mqtt_username, settings.simulator.mqtt_password.get_secret_value()
    )
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    start = time.time() - 86400 * 30
    infos = []
    for i in range(messages):
        device = f"env-{i % 400}"
        bt = start + 300 * records * (i // 400)
        pack = [
            {"bn": f"{device}/", "bt": bt, "n": "temperature", "u": "Cel", "v": 20 + k / 10}
            if k == 0
            else {"n": "temperature", "u": "Cel", "v": 20 + k / 10, "t": 300 * k}
            for k in range(records)
        ]
        infos.append(client.publish(f"hof/v1/{home}/{device}/reading", json.dumps(pack), qos=1))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


def run(kind: str, messages: int, records: int) -> tuple[float, float]:
    state = Path(tempfile.mkdtemp(prefix=f"hof-bench-{kind}-"))
    stack: Any
    if kind == "nats":
        stack = NatsStack(state)
        settings = stack.up()
    else:
        stack = Stack(Settings(environment="test", state_dir=state))
        stack.up()
        settings = Settings(environment="test", state_dir=state, **stack.info.settings())
    home, total = f"BENCH-{kind}", messages * records
    worker = IngestProcess(state, "bench", HOF_LOG_LEVEL="INFO")
    try:
        worker.start(60)
        worker.stop()
        publish(settings, home, messages, records)
        worker.start(60)
        assert worker.proc is not None
        cpu0, t0 = cpu_s(worker.proc.pid), time.monotonic()

        def stored() -> int:
            q = f"SELECT count(temperature) FROM reading WHERE home='{home}'"
            series = influx_query(settings, q)
            return int(series[0]["values"][0][1]) if series else 0

        if not wait_until(lambda: stored() == total, 600):
            raise SystemExit(f"{kind}: {stored()} of {total} stored")
        cpu1, t1 = cpu_s(worker.proc.pid), time.monotonic()
    finally:
        if worker.proc is not None:
            worker.stop()
        stack.down()
        shutil.rmtree(state, ignore_errors=True)
    return (cpu1 - cpu0) / total * 100_000, total / (t1 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.runs):
        for kind in ("mosquitto", "nats"):
            cost, rate = run(kind, args.messages, args.records)
            print(
                f"{kind:9} {cost:5.2f} CPU-s per 100,000 readings, {rate:8,.0f} readings/s "
                f"({args.messages:,} packs of {args.records})",
                flush=True,
            )


if __name__ == "__main__":
    main()
