"""Dashboard: server time of the estate overview and a home page at 50,000 homes.

    .venv/bin/python bench/dashboard [--homes 50000] [--sample 20] [--requests 200]

A private Mosquitto + InfluxDB and a SQLite platform database with `--homes` homes in six
patches, their need summary (computed by the dashboard's own refresher, timed) and a few
thousand open alerts; a year of hourly readings (4 rooms: temperature, humidity, CO2 in two)
and hourly mould-index points for `--sample` homes. Then `hof dashboard` as a process, and
each page or API call requested `--requests` times in turn by a signed-in client. Server time
is the app's own `Server-Timing` (from the request reaching the app to the response leaving
it). The client's own clock is not printed: httpx's sync client on loopback adds a steady
~40 ms (two small writes meeting a delayed ACK) that a browser does not.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dashboard.access import Role
from dashboard.accounts import create_user
from dashboard.conditions import Refresher, read_climate
from hof.alertstore import AlertStore, migrate, store_url
from hof.influx import InfluxClient
from hof.registry import HomeIn, upsert_homes
from hof.settings import Settings
from hof.stack import Stack

PATCHES = ("North", "South", "East", "West", "Central", "Riverside")
PASSWORD = "bench password long enough"
STREETS = ("Oak", "Elm", "Mill", "Canal")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seed_homes(store: AlertStore, homes: int) -> float:
    rng = random.Random(1)
    started = time.perf_counter()
    rows = []
    for i in range(homes):
        patch = PATCHES[i % len(PATCHES)]
        estate = f"{patch} estate {i % 40 // 6}"
        rows.append(
            HomeIn(
                id=f"B-{i:06d}",
                reference=f"PR{i:07d}",
                address=f"{1 + i % 300} {rng.choice(STREETS)} Road, {estate}",
                postcode=f"ZZ{i % 9 + 1} {i % 10}{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}",
                estate=estate,
                ward=f"Ward {i % 17}",
                patch=patch,
            )
        )
    upsert_homes(store.engine, rows)
    return time.perf_counter() - started


def seed_alerts(store: AlertStore, homes: int, alerts: int) -> None:
    rng = random.Random(2)
    kinds = [
        ("damp_mould", "damp_mould", "housing_officer", ("watch", "significant", "severe")),
        ("cold", "cold", "housing_officer", ("watch", "significant")),
        ("device_offline", "device_offline", "housing_officer", ("watch",)),
        ("fall", "fall", "responder", ("emergency",)),
    ]
    for n in range(alerts):
        rule, category, audience, severities = kinds[n % len(kinds)]
        store.raise_or_update(
            home=f"B-{rng.randrange(homes):06d}",
            rule=rule,
            rule_version=1,
            category=category,
            audience=audience,
            severity=rng.choice(severities),
            room=f"room-{n}",
            summary=f"{rule} (bench)",
        )


async def seed_readings(settings: Settings, sample: list[str]) -> tuple[int, float]:
    now = int(time.time()) // 3600 * 3600
    started = time.perf_counter()
    points = 0
    async with InfluxClient(settings.influx) as influx:
        for home in sample:
            lines = []
            for h in range(1, 365 * 24 + 1):
                t = (now - h * 3600) * 1000
                for r, room in enumerate(("living_room", "bedroom", "kitchen", "bathroom")):
                    co2 = f",co2={700 + (h * 7 + r * 13) % 900}" if r < 2 else ""
                    lines.append(
                        f"reading,device=env-{r},home={home},room={room} "
                        f"temperature={16 + (h % 24) / 4 + r},humidity={55 + (h * 3 + r) % 30}"
                        f"{co2} {t}"
                    )
                    lines.append(
                        f"mould,home={home},room={room} mould_index={(h % 500) / 200:.3f},"
                        f"surface_rh={70 + h % 25} {t}"
                    )
                if len(lines) >= 20_000:
                    await influx.write(lines)
                    points += len(lines)
                    lines = []
            if lines:
                await influx.write(lines)
                points += len(lines)
    return points, time.perf_counter() - started


def timed(client: httpx.Client, path: str, n: int) -> tuple[list[float], list[float], int]:
    server, seen = [], []
    size = 0
    for _ in range(n):
        began = time.perf_counter()
        response = client.get(path)
        seen.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
        timing = response.headers.get("server-timing", "app;dur=0")
        server.append(float(timing.split("dur=")[1]))
        size = len(response.content)
    return server, seen, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--homes", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        stack = Stack(Settings(state_dir=state))
        info = stack.up()
        proc = None
        try:
            settings = Settings(state_dir=state, **info.settings())
            migrate(store_url(settings))
            store = AlertStore.from_settings(settings)
            took = seed_homes(store, args.homes)
            print(f"registry: {args.homes:,} homes written in {took:.1f} s")
            seed_alerts(store, args.homes, args.alerts)
            sample = [f"B-{i:06d}" for i in range(0, args.homes, max(1, args.homes // args.sample))]
            sample = sample[: args.sample]
            points, took = asyncio.run(seed_readings(settings, sample))
            print(
                f"InfluxDB: {points:,} points (a year hourly, {len(sample)} homes) in {took:.0f} s"
            )

            refresher = Refresher(store.engine)

            async def climate() -> float:
                async with InfluxClient(settings.influx) as influx:
                    began = time.perf_counter()
                    refresher.climate = await read_climate(influx, 18.0, 26.0)
                    return time.perf_counter() - began

            climate_s = asyncio.run(climate())
            began = time.perf_counter()
            homes, written = refresher.write_round(dt.datetime.now(dt.UTC))
            first = time.perf_counter() - began
            began = time.perf_counter()
            _, rewritten = refresher.write_round(dt.datetime.now(dt.UTC))
            steady = time.perf_counter() - began
            print(
                f"need summary: climate from InfluxDB {climate_s:.2f} s; first round "
                f"{homes:,} homes ({written:,} rows written) {first:.2f} s; a steady round "
                f"({rewritten:,} changed) {steady:.2f} s"
            )
            create_user(
                store.engine,
                email="admin@bench.invalid",
                name="Admin",
                role=Role.ADMIN,
                password=PASSWORD,
            )
            create_user(
                store.engine, email="officer@bench.invalid", name="Officer",
                role=Role.HOUSING_OFFICER, password=PASSWORD, patches=("North",),
            )  # fmt: skip
            store.close()

            env = {
                **os.environ,
                "HOF_STATE_DIR": str(state),
                "HOF_LOG_LEVEL": "WARNING",
                "HOF_DASHBOARD__PORT": "0",
                "HOF_DASHBOARD__REFRESH_S": "3600",
                "HOF_DASHBOARD__CLIMATE_REFRESH_S": "3600",
            }
            registration = state / "run" / "dashboard-dashboard.json"
            proc = subprocess.Popen(
                [sys.executable, "-m", "hof.cli", "dashboard"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while not registration.exists():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the dashboard did not start")
                time.sleep(0.1)
            url = json.loads(registration.read_text())["url"].removesuffix("/metrics")
            time.sleep(2.0)  # its first summary round runs at start: let it finish
            n = args.requests
            home = sample[len(sample) // 2]
            results = []
            for who, paths in (
                (
                    "admin",
                    [
                        ("overview, page 1 (all 50,000 homes)", "/estate"),
                        ("overview, high risk, search 'oak'", "/estate?risk=high&q=oak"),
                        ("overview, page 500", "/estate?page=500"),
                        ("home page (24 h charts)", f"/homes/{home}"),
                        ("home page (1 y charts)", f"/homes/{home}?range=1y"),
                        ("API series 24 h", f"/api/v1/homes/{home}/series?range=24h"),
                        ("API series 1 y", f"/api/v1/homes/{home}/series?range=1y"),
                        ("API homes, limit 50", "/api/v1/homes?limit=50"),
                    ],
                ),
                ("officer", [("overview as an officer (one patch)", "/estate")]),
            ):
                # TCP_NODELAY as browsers set it: without it, httpx's two small writes per
                # request meet the server's delayed ACK and every figure gains 40 ms.
                nodelay = httpx.HTTPTransport(
                    socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
                )
                with httpx.Client(base_url=url, timeout=60, transport=nodelay) as client:
                    signed = client.post(
                        "/sign-in", data={"email": f"{who}@bench.invalid", "password": PASSWORD}
                    )
                    assert signed.status_code == 303, signed.text
                    for label, path in paths:
                        timed(client, path, 3)  # warm caches
                        server, seen, size = timed(client, path, n)
                        results.append((label, server, seen, size))
            print(f"\n{n} requests each, one at a time, on this machine ({os.cpu_count()} cores)")
            print(
                f"{'':44} {'server p50':>10} {'p99':>8} {'client p50':>10} {'p99':>8} {'bytes':>8}"
            )
            for label, server, seen, size in results:
                print(
                    f"{label:44} {statistics.median(server):8.1f}ms {pct(server, 0.99):6.1f}ms "
                    f"{statistics.median(seen):8.1f}ms {pct(seen, 0.99):6.1f}ms {size:8,}"
                )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(20)
            stack.down()


if __name__ == "__main__":
    main()
