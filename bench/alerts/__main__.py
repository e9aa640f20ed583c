"""Rules engine: evaluation throughput per core, and fall-to-alert latency under load.

    .venv/bin/python bench/alerts [--rooms 2000] [--falls 60] [--load-homes 300]
                                  [--pool-rooms 1000]

1. Throughput: simulated rooms' readings through the worker's own routing and rules
   (`AlertsWorker._judge`), in this process, on one core: records/s.
1b. Workers of a pool (1, 2, 4): each worker routes every message (`AlertsWorker._route`:
   whose home, kept for a handover or not) and judges its own homes' share; each worker's CPU
   time in turn, in this process. The estate's rate with N workers on N cores is the records
   over the slowest worker's CPU time (not measured across processes: this machine has 2
   cores, shared).
2. Latency: a private Mosquitto + InfluxDB, `hof ingest` and `hof alerts` as processes, the
   simulator publishing a background estate (history, then live readings), and falls
   published one at a time by a device; each timed from PUBACK to the alert being readable in
   the alert store (polled every 5 ms, so figures carry up to 5 ms of polling).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from alerts.partition import Partition
from alerts.service import AlertsWorker
from hof.alertstore.api import AlertStore
from hof.alertstore.records import AlertFilter
from hof.mqtt import Delivery
from hof.senml import Record
from hof.settings import Settings
from hof.stack import Stack


def throughput(rooms: int) -> tuple[float, int]:
    async def run() -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            worker = AlertsWorker(Settings(state_dir=Path(tmp)))
            rng = np.random.default_rng(1)
            t0 = time.time() - 2 * 86400
            for r in range(rooms):
                worker.room_watcher.rooms[(f"B-{r}", "env")] = ("bedroom", "bathroom")[r % 2]
            steps = 288  # a day at 5 minutes
            temps = 17 + 3 * rng.standard_normal((steps, rooms))
            hums = np.clip(65 + 10 * rng.standard_normal((steps, rooms)), 1, 100)
            records = 0
            began = time.perf_counter()
            for k in range(steps):
                t_ms = int((t0 + k * 300) * 1000)
                for r in range(rooms):
                    pack = [
                        Record(f"B-{r}", "env", "temperature", t_ms, float(temps[k, r])),
                        Record(f"B-{r}", "env", "humidity", t_ms, float(hums[k, r])),
                    ]
                    worker._judge(f"B-{r}", "env", pack)
                    records += 2
            elapsed = time.perf_counter() - began
            worker.store.close()
            return records / elapsed, records

    return asyncio.run(run())


def pooled(rooms: int, n: int) -> tuple[int, list[float]]:
    """Records in the estate, and each of n pooled workers' CPU seconds to route and judge
    them."""

    async def run() -> tuple[int, list[float]]:
        members = frozenset(f"w{i}" for i in range(n))
        rng = np.random.default_rng(1)
        steps = 288
        temps = 17 + 3 * rng.standard_normal((steps, rooms))
        hums = np.clip(65 + 10 * rng.standard_normal((steps, rooms)), 1, 100)
        t0 = time.time() - 2 * 86400
        seconds: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(n):
                state = Path(tmp) / f"w{i}"
                state.mkdir()
                worker = AlertsWorker(Settings(state_dir=state))
                worker.partition = Partition(f"w{i}", members)
                for r in range(rooms):
                    worker.room_watcher.rooms[(f"B-{r}", "env")] = ("bedroom", "bathroom")[r % 2]
                topics = [f"hof/v1/B-{r}/env/reading" for r in range(rooms)]
                began = time.process_time()  # CPU: stable on a busy machine
                for k in range(steps):
                    t_ms = int((t0 + k * 300) * 1000)
                    now = time.time()
                    for r in range(rooms):
                        delivery = Delivery(topics[r], b"", 1, False, k, now, None)  # type: ignore[arg-type]
                        if not worker._route(delivery):
                            continue
                        pack = [
                            Record(f"B-{r}", "env", "temperature", t_ms, float(temps[k, r])),
                            Record(f"B-{r}", "env", "humidity", t_ms, float(hums[k, r])),
                        ]
                        worker._judge(f"B-{r}", "env", pack)
                seconds.append(time.process_time() - began)
                worker.store.close()
        return steps * rooms * 2, seconds

    return asyncio.run(run())


def _device(stack: Stack, home: str, device: str) -> paho.Client:
    """A device's own credential, registered with the broker, and a client connected on it
    (the broker reads its password file again on SIGHUP, a moment later: tried for 10 s)."""
    password = secrets.token_urlsafe(16)
    stack.broker.add_user(f"{home}/{device}", password)
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"{home}-{device}",
        protocol=paho.MQTTv311,
    )
    client.username_pw_set(f"{home}/{device}", password)
    deadline = time.monotonic() + 10
    while True:
        client.connect(stack.broker.host, stack.broker.port)
        client.loop_start()
        waited = time.monotonic() + 2
        while not client.is_connected() and time.monotonic() < waited:
            time.sleep(0.02)
        if client.is_connected():
            return client
        client.loop_stop()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{home}/{device} could not connect to the broker in 10 s")


def latency(falls: int, load_homes: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        stack = Stack(Settings(state_dir=state))
        info = stack.up()
        env = {**os.environ, "HOF_STATE_DIR": str(state), "HOF_LOG_LEVEL": "WARNING"}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "hof.cli", name],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in ("ingest", "alerts")
        ]
        try:
            while len(list((state / "run").glob("*.json"))) < 2:
                time.sleep(0.1)
            time.sleep(2.0)
            load = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hof.cli",
                    "simulate",
                    "--homes",
                    str(load_homes),
                    "--interval",
                    "60",
                    "--backfill",
                    "3h",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.insert(0, load)  # stopped first, in `finally`, even if a measurement fails
            settings = Settings(state_dir=state, **info.settings())
            store = AlertStore.from_settings(settings)
            # A home with no consent record is collected for its environment only (the
            # production default): the pendants' homes are imported into the registry with
            # their telecare consent, on the lawful basis a telecare service has, as a
            # landlord's import records them (and publishes them to the services).
            homes = state / "latency-homes.csv"
            header = "id,reference,address,postcode,estate,ward,patch,telecare,"
            rows = [
                f"LAT-{i:04d},LAT-{i:04d},{i} Bench Road,LS1 1AA,Bench,Ward,P1,yes,yes,"
                "vital_interests"
                for i in range(falls)
            ]
            homes.write_text("\n".join([header + "consent_telecare,consent_basis", *rows]) + "\n")
            subprocess.run(
                [
                    *(sys.executable, "-m", "hof.cli", "dashboard", "homes", "import"),
                    *("--by", "bench/alerts", str(homes)),
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=120,
            )
            time.sleep(2.0)  # the consents reach the services; the load's history is flowing
            seconds: list[float] = []
            for i in range(falls):
                # Each fall from a pendant of a home of its own (an open fall takes no second
                # one), on its own credential on the devices' listener, as a real one sends
                # it: the simulator's credential may publish for its own homes only.
                home = f"LAT-{i:04d}"
                client = _device(stack, home, "tc-1")
                pack = json.dumps(
                    [{"bn": "tc-1/", "bt": time.time(), "n": "fall", "vs": "detected"}]
                )
                info_ = client.publish(f"hof/v1/{home}/tc-1/event", pack, qos=1)
                info_.wait_for_publish(10)
                sent = time.perf_counter()
                while not store.list(AlertFilter(homes=[home]), limit=1).items:
                    if time.perf_counter() - sent > 30:
                        raise RuntimeError(f"no alert for {home} in 30 s")
                    time.sleep(0.005)
                seconds.append(time.perf_counter() - sent)
                client.disconnect()
                client.loop_stop()
                time.sleep(0.2)
            store.close()
            return seconds
        finally:
            # The background estate and both services go, even when a measurement failed.
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            stack.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--falls", type=int, default=60)
    parser.add_argument("--load-homes", type=int, default=300)
    parser.add_argument("--pool-rooms", type=int, default=1000)
    args = parser.parse_args()
    rate, records = throughput(args.rooms)
    print(f"rules engine benchmark (one worker; {os.cpu_count()} cores on this machine)")
    print(
        f"  evaluation: {records:,} records ({args.rooms:,} rooms x a day at 5 min) "
        f"at {rate:,.0f} records/s on one core"
    )
    single = 0.0
    for n in (1, 2, 4):
        total, seconds = pooled(args.pool_rooms, n)
        estate = total / max(seconds)
        single = single or estate
        print(
            f"  pool of {n}: {total:,} records ({args.pool_rooms:,} rooms); each worker routes "
            f"all and judges its share in {', '.join(f'{x:.1f}' for x in seconds)} CPU s: "
            f"{estate:,.0f} records/s on {n} cores ({estate / single:.2f}x one worker)"
        )
    seconds = sorted(latency(args.falls, args.load_homes))
    p50 = statistics.median(seconds)
    p99 = seconds[min(len(seconds) - 1, round(0.99 * (len(seconds) - 1)))]
    print(
        f"  fall -> alert in the store, {len(seconds)} falls under a background estate of "
        f"{args.load_homes} homes (simulator history + live): p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
