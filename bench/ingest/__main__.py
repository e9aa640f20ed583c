"""Ingest cost and throughput: CPU per reading, 1/2/4 workers against the raw InfluxDB ceiling.

    .venv/bin/python bench/ingest [--readings 200000] [--workers 1,2,4] [--rate 5000]

The workload is the peers harness's (../shared/peers): H homes x D devices, packs of K
readings, one reading = a temperature and a humidity record = one InfluxDB point, QoS 1.
Everything runs here, on a private Mosquitto and InfluxDB on loopback ports, in one run:

1. the raw ceiling: the same points as line protocol, 5,000 lines a POST, one request at a
   time, into a fresh database (best of three): what InfluxDB itself stores per second;
2. for each worker count: the workers subscribe and are paused (SIGSTOP), the packs are
   queued in the broker (so the publisher is not what is measured), the workers are resumed
   and timed until every point is stored; CPU from /proc (the workers and influxd from the
   resume to done, mosquitto from the first publish), peak RSS (VmHWM) per worker;
3. latency: one worker, packs published at a steady rate, publish -> queryable (count of
   stored readings polled every 50 ms; readings are stored in publish order with one worker).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hof.metrics import parse_text
from hof.settings import Settings
from hof.stack import Stack

T0 = 1_763_841_600  # 2025-11-22T20:00Z, the contract's example time (as the peers harness)
INTERVAL_S = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Workload:
    homes: int
    devices: int
    pack: int
    readings: int

    @property
    def packs(self) -> int:
        return -(-self.readings // self.pack)

    def messages(self, prefix: str) -> list[tuple[str, bytes, list[int]]]:
        """(topic, payload, reading times in s) of every pack, round robin over the devices."""
        out = []
        devices = self.homes * self.devices
        for p in range(self.packs):
            dev = p % devices
            home, device = f"{prefix}-{dev // self.devices:05d}", f"env-{dev % self.devices:02d}"
            base = T0 + (p // devices) * self.pack * INTERVAL_S
            n = min(self.pack, self.readings - p * self.pack)
            times = [base + j * INTERVAL_S for j in range(n)]
            records: list[dict[str, object]] = []
            for j, t in enumerate(times):
                temp, hum = round(19.0 + (p * 7 + j) % 50 / 10, 1), round(40 + (p + j) % 50, 1)
                first = {"bn": f"{device}/", "bt": t} if j == 0 else {"t": t - times[0]}
                records.append({**first, "n": "temperature", "u": "Cel", "v": temp})
                records.append(
                    {**({"t": t - times[0]} if j else {}), "n": "humidity", "u": "%RH", "v": hum}
                )
            payload = json.dumps(records, separators=(",", ":")).encode()
            out.append((f"hof/v1/{home}/{device}/reading", payload, times))
        return out

    def lines(self, prefix: str) -> list[bytes]:
        """The same points as line protocol in 5,000-line bodies (what ingest writes)."""
        lines, bodies = [], []
        for topic, payload, _ in self.messages(prefix):
            _, _, home, device, _ = topic.split("/")
            base = 0
            for r in json.loads(payload):
                base = r.get("bt", base)
                t = (base + r.get("t", 0)) * 1000
                if r["n"] == "temperature":
                    temp = r["v"]
                else:
                    lines.append(
                        f"reading,device={device},home={home} "
                        f"temperature={float(temp)!r},humidity={float(r['v'])!r} {t}"
                    )
                if len(lines) == 5000:
                    bodies.append("\n".join(lines).encode())
                    lines = []
        if lines:
            bodies.append("\n".join(lines).encode())
        return bodies


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mib(pid: int, field: str = "VmHWM") -> float:
    """Peak RSS (VmHWM), or another of /proc/PID/status's sizes (VmRSS: now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Scraper:
    """The workers' /metrics, over kept connections: `httpx.get` builds a client (and its TLS
    context) a call, about 40 ms of this process's CPU, which on two cores took a good share of
    one from the workers and InfluxDB it measures, and stretched the poll to ~60 ms."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.http = httpx.Client(timeout=5.0)

    def metrics(self, client_id: str) -> dict[str, float]:
        registration = self.state / "run" / f"ingest-{client_id}.json"
        try:
            url = json.loads(registration.read_text())["url"]
            samples = parse_text(self.http.get(url).text)
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            return {}
        return {name: sum(v.values()) for name, v in samples.items()}

    def close(self) -> None:
        self.http.close()


# How often the drain's end is looked for. Each scrape costs a worker about 0.8 ms of CPU,
# counted in its CPU per reading: every 50 ms, about 1 % of a worker's CPU at 50,000 readings/s.
POLL_S = 0.05


class Bench:
    def __init__(self, state: Path, stack: Stack, settings: Settings) -> None:
        self.state = state
        self.stack = stack
        self.settings = settings
        self.pids = stack.info.pids
        influx = settings.influx
        assert influx.password is not None
        self.http = httpx.Client(
            base_url=influx.url,
            auth=(influx.username or "", influx.password.get_secret_value()),
            timeout=60.0,
        )
        self.scraper = Scraper(state)

    def query(self, q: str, db: str | None = None) -> list[list[object]]:
        params = {"q": q, **({"db": db} if db else {})}
        r = self.http.post("/query", params=params)
        r.raise_for_status()
        result = r.json()["results"][0]
        return result["series"][0]["values"] if "series" in result else []

    def stored(self, prefix: str, db: str | None = None) -> int:
        rows = self.query(
            f"SELECT count(humidity) FROM reading WHERE home =~ /^{prefix}-/",
            db or self.settings.influx.database,
        )
        return int(rows[0][1]) if rows else 0  # type: ignore[call-overload]

    def ceiling(self, w: Workload) -> tuple[float, list[float]]:
        bodies = w.lines("CEIL")
        rates = []
        for _ in range(3):
            self.query('DROP DATABASE "ceiling"')
            self.query('CREATE DATABASE "ceiling"')
            began = time.perf_counter()
            for body in bodies:
                r = self.http.post(
                    "/write", params={"db": "ceiling", "precision": "ms"}, content=body
                )
                if r.status_code != 204:
                    raise RuntimeError(f"write failed {r.status_code}: {r.text[:200]}")
            rates.append(w.readings / (time.perf_counter() - began))
            assert self.stored("CEIL", "ceiling") == w.readings
        self.query('DROP DATABASE "ceiling"')
        return max(rates), rates

    def worker(self, client_id: str, share_group: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "HOF_STATE_DIR": str(self.state),
            "HOF_LOG_LEVEL": "WARNING",
            "HOF_INGEST__CLIENT_ID": client_id,
            "HOF_INGEST__SHARE_GROUP": share_group,
            "HOF_MQTT__KEEPALIVE_S": "300",  # paused while the packs are queued
            # A stopped run's session goes at once: an offline member of a shared group would
            # have the broker queue later runs' messages for it.
            "HOF_INGEST__SESSION_EXPIRY_S": "1",
            "HOF_RIGHTS__UNRECORDED": '["environment", "activity", "telecare"]',
        }
        (self.state / "run" / f"ingest-{client_id}.json").unlink(missing_ok=True)
        return subprocess.Popen(
            [sys.executable, "-m", "hof.cli", "ingest"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def metrics(self, client_id: str) -> dict[str, float]:
        return self.scraper.metrics(client_id)

    def start(self, ids: list[str], share_group: str) -> dict[str, subprocess.Popen[bytes]]:
        procs = {i: self.worker(i, share_group) for i in ids}
        deadline = time.monotonic() + 120
        for i, proc in procs.items():
            while self.metrics(i).get("hof_ingest_ready") != 1.0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ingest worker {i} did not start")
                time.sleep(0.05)
        return procs

    def publisher(self) -> paho.Client:
        sim = self.settings.simulator
        assert sim.mqtt_password is not None
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311
        )
        client.username_pw_set(sim.mqtt_username, sim.mqtt_password.get_secret_value())
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect(self.settings.mqtt.host, self.settings.mqtt.port)
        client.loop_start()
        return client

    def publish_all(self, messages: list[tuple[str, bytes, list[int]]]) -> float:
        client = self.publisher()
        began = time.perf_counter()
        infos = [client.publish(topic, payload, qos=1) for topic, payload, _ in messages]
        for info in infos:
            info.wait_for_publish(120)
        elapsed = time.perf_counter() - began
        client.disconnect()
        client.loop_stop()
        return elapsed

    def drain(self, w: Workload, workers: int) -> dict[str, float]:
        """Queue the workload for `workers` paused workers, then time them draining it.

        The workers start and subscribe, then are paused (SIGSTOP) while the packs are
        published, so the broker holds them (and the publisher is not what is measured);
        CPU and time count from SIGCONT to the last point written.
        """
        prefix = f"W{workers}"
        ids = [f"bench-{workers}-{i}" for i in range(workers)]
        procs = self.start(ids, f"bench{workers}" if workers > 1 else "")
        ready_rss = max(peak_rss_mib(p.pid, "VmRSS") for p in procs.values())
        try:
            for proc in procs.values():
                proc.send_signal(signal.SIGSTOP)
            messages = w.messages(prefix)
            mosquitto0 = cpu_s(self.pids["mosquitto"])
            publish_s = self.publish_all(messages)
            ingest0 = sum(cpu_s(p.pid) for p in procs.values())
            influx0 = cpu_s(self.pids["influxdb"])
            began = time.perf_counter()
            for proc in procs.values():
                proc.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 300
            written = "hof_ingest_points_written_total"
            while sum(self.metrics(i).get(written, 0) for i in ids) < w.readings:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{workers} workers did not store everything in time")
                time.sleep(POLL_S)
            elapsed = time.perf_counter() - began
            ingest_cpu = sum(cpu_s(p.pid) for p in procs.values()) - ingest0
            influx_cpu = cpu_s(self.pids["influxdb"]) - influx0
            mosquitto_cpu = cpu_s(self.pids["mosquitto"]) - mosquitto0
            peaks = [peak_rss_mib(p.pid) for p in procs.values()]
        finally:
            for proc in procs.values():
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
            for proc in procs.values():
                proc.wait(30)
        stored = self.stored(prefix)
        per_100k = 100_000 / w.readings
        return {
            "workers": workers,
            "stored": stored,
            "publish_s": publish_s,
            "seconds": elapsed,
            "readings_per_s": w.readings / elapsed,
            "ingest_cpu_per_100k": ingest_cpu * per_100k,
            "mosquitto_cpu_per_100k": mosquitto_cpu * per_100k,
            "influxd_cpu_per_100k": influx_cpu * per_100k,
            "end_to_end_cpu_per_100k": (ingest_cpu + mosquitto_cpu + influx_cpu) * per_100k,
            "peak_rss_mib_max": max(peaks),
            "ready_rss_mib_max": ready_rss,
        }

    def latency(self, w: Workload, rate: float, seconds: float) -> dict[str, float]:
        """One worker; packs at `rate` readings/s; publish -> queryable per reading."""
        (proc,) = self.start(["bench-latency"], "").values()
        packs = int(rate * seconds / w.pack)
        lw = Workload(w.homes, w.devices, w.pack, packs * w.pack)
        messages = lw.messages("LAT")
        client = self.publisher()
        sent: list[float] = []
        stored_at: list[tuple[float, int]] = []
        done = threading.Event()

        def poll() -> None:  # its own thread, so that polling never holds up the publisher
            deadline = time.perf_counter() + seconds + 60
            while not done.is_set() and time.perf_counter() < deadline:
                count = self.stored("LAT")
                stored_at.append((time.perf_counter(), count))
                if count >= lw.readings:
                    return
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        began = time.perf_counter()
        for k, (topic, payload, _) in enumerate(messages):
            if (wait := began + k * w.pack / rate - time.perf_counter()) > 0:
                time.sleep(wait)
            client.publish(topic, payload, qos=1)
            sent.append(time.perf_counter())
        poller.join()
        done.set()
        achieved = lw.readings / (sent[-1] - sent[0]) if len(sent) > 1 else 0.0
        client.disconnect()
        client.loop_stop()
        proc.terminate()
        proc.wait(30)
        # The k-th reading is queryable at the first poll that counts more than k of them.
        latencies, i = [], 0
        for pack, t_sent in enumerate(sent):
            for j in range(w.pack):
                k = pack * w.pack + j
                while i < len(stored_at) and stored_at[i][1] <= k:
                    i += 1
                if i == len(stored_at):
                    break
                latencies.append(stored_at[i][0] - t_sent)
        latencies.sort()
        return {
            "rate": achieved,
            "readings": lw.readings,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "measured": len(latencies),
        }


def report(r: dict[str, float], ceiling: float) -> None:
    print(
        f"  {r['workers']:.0f} worker(s): {r['readings_per_s']:>8,.0f} readings/s "
        f"({2 * r['readings_per_s']:,.0f} records/s, {r['readings_per_s'] / ceiling:.0%} "
        f"of the ceiling), stored {r['stored']:,.0f} in {r['seconds']:.1f} s, "
        f"peak RSS {r['peak_rss_mib_max']:.0f} MiB per worker (max; "
        f"{r['ready_rss_mib_max']:.0f} at ready)"
    )
    print(
        f"      CPU-s per 100,000 readings: ingest {r['ingest_cpu_per_100k']:.2f}, "
        f"end to end {r['end_to_end_cpu_per_100k']:.2f} (mosquitto "
        f"{r['mosquitto_cpu_per_100k']:.2f}, influxd {r['influxd_cpu_per_100k']:.2f})",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--devices", type=int, default=2, help="devices per home")
    parser.add_argument("--pack", type=int, default=10, help="readings per pack")
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run")
    parser.add_argument("--rate", type=float, default=5000, help="readings/s for the latency")
    parser.add_argument("--latency-s", type=float, default=10.0, help="0 skips the latency")
    args = parser.parse_args()
    w = Workload(args.homes, args.devices, args.pack, args.readings)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        stack = Stack(Settings(state_dir=state))
        stack.up()
        try:
            bench = Bench(state, stack, Settings(state_dir=state, **stack.info.settings()))
            print(
                f"ingest benchmark: {w.readings:,} readings ({2 * w.readings:,} SenML records) "
                f"in {w.packs:,} packs of {w.pack}, {w.homes} homes x {w.devices} devices, "
                f"QoS 1, loopback, {os.cpu_count()} cores",
                flush=True,
            )
            ceiling, ceiling_runs = bench.ceiling(w)
            print(
                f"  raw InfluxDB ceiling     {ceiling:,.0f} points/s "
                f"(5,000-line batches; runs {', '.join(f'{r:,.0f}' for r in ceiling_runs)})",
                flush=True,
            )
            for n in args.workers.split(","):
                report(bench.drain(w, int(n)), ceiling)
            if args.latency_s:
                latency = bench.latency(w, args.rate, args.latency_s)
                print(
                    f"  latency at {latency['rate']:,.0f} readings/s (one worker, "
                    f"{latency['measured']:,.0f} readings): publish -> queryable "
                    f"p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms",
                    flush=True,
                )
        finally:
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
