"""Dashboard: server time of the estate overview and a home page at 50,000 homes, and the
need summary's round time over a week of readings from every home.

    .venv/bin/python bench/dashboard [--homes 50000] [--week-homes 50000] [--sample 20]
                                     [--requests 200]

A private Mosquitto + InfluxDB and a SQLite platform database with `--homes` homes in six
patches and a few thousand open alerts. InfluxDB gets a year of hourly readings (4 rooms:
temperature and humidity, CO2 in two) and hourly mould-index points for `--sample` homes, and
a week of hourly temperatures in 4 rooms (and the last hours' mould points) for `--week-homes`
homes, so the summary's InfluxDB pass reads what a live estate would hold (at 5-minute
readings InfluxDB scans 12 times the points; the hourly means it returns are the same).

The summary is timed in this process with the dashboard's own code: a climate pass from
cold (the whole week), a steady pass (the newest hours), and the SQL round that writes every
row, then one with nothing to write. Then `hof dashboard` runs as a process (its own refresher
idle meanwhile) and each page or API call is requested `--requests` times in turn by a
signed-in client. Server time is the app's `Server-Timing` (from the request reaching the app
to the response leaving it); the client's figure adds the loopback HTTP round trip.
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
from collections.abc import Iterator
from pathlib import Path

import httpx

from dashboard.access import Role
from dashboard.accounts import create_token, create_user
from dashboard.climate_summary import ClimateTracker
from dashboard.conditions import Refresher, home_ids
from hof.alertstore import AlertStore, migrate, store_url
from hof.influx import InfluxClient
from hof.metrics import parse_text
from hof.registry import HomeIn, upsert_homes
from hof.settings import Settings
from hof.stack import Stack

PATCHES = ("North", "South", "East", "West", "Central", "Riverside")
ROOMS = ("living_room", "bedroom", "kitchen", "bathroom")
PASSWORD = "bench password long enough"
STREETS = ("Oak", "Elm", "Mill", "Canal")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def home_id(i: int) -> str:
    return f"B-{i:06d}"


def seed_homes(store: AlertStore, homes: int) -> float:
    rng = random.Random(1)
    started = time.perf_counter()
    rows = []
    for i in range(homes):
        patch = PATCHES[i % len(PATCHES)]
        estate = f"{patch} estate {i % 40 // 6}"
        rows.append(
            HomeIn(
                id=home_id(i),
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
            home=home_id(rng.randrange(homes)),
            rule=rule,
            rule_version=1,
            category=category,
            audience=audience,
            severity=rng.choice(severities),
            room=f"room-{n}",
            summary=f"{rule} (bench)",
        )


class Writer:
    """Line protocol to InfluxDB in batches of 50,000, two requests in flight."""

    def __init__(self, influx: InfluxClient) -> None:
        self.influx = influx
        self.pending: set[asyncio.Task[None]] = set()
        self.points = 0

    async def write(self, lines: Iterator[str]) -> None:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= 50_000:
                await self._send(batch)
                batch = []
        await self._send(batch)
        await asyncio.gather(*self.pending)
        self.pending.clear()

    async def _send(self, batch: list[str]) -> None:
        if batch:
            self.points += len(batch)
            self.pending.add(asyncio.create_task(self.influx.write(batch)))
        while len(self.pending) >= 2:
            done, self.pending = await asyncio.wait(
                self.pending, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()


def year_lines(sample: list[str], now: int) -> Iterator[str]:
    for home in sample:
        for h in range(1, 365 * 24 + 1):
            t = (now - h * 3600) * 1000
            for r, room in enumerate(ROOMS):
                co2 = f",co2={700 + (h * 7 + r * 13) % 900}" if r < 2 else ""
                yield (
                    f"reading,device=env-{r},home={home},room={room} "
                    f"temperature={16 + (h % 24) / 4 + r},humidity={55 + (h * 3 + r) % 30}"
                    f"{co2} {t}"
                )
                yield (
                    f"mould,home={home},room={room} mould_index={(h % 500) / 200:.3f},"
                    f"surface_rh={70 + h % 25} {t}"
                )


def week_lines(homes: int, skip: set[str], now: int) -> Iterator[str]:
    for h in range(1, 7 * 24 + 1):
        t = (now - h * 3600) * 1000
        for i in range(homes):
            home = home_id(i)
            if home in skip:
                continue
            # Rooms of one home in seven run cold, one in twenty hot.
            base = 14.5 if i % 7 == 0 else 27.0 if i % 20 == 0 else 19.5
            for r, room in enumerate(ROOMS):
                temp = base + ((h + r + i) % 5) * 0.4
                yield f"reading,device=env-{r},home={home},room={room} temperature={temp} {t}"
                if h <= 3:
                    yield f"mould,home={home},room={room} mould_index={(i % 13) / 4} {t}"


async def seed_readings(settings: Settings, sample: list[str], week_homes: int) -> tuple[int, int]:
    """A year hourly for the sample; a week of temperatures and recent mould for the rest."""
    now = int(time.time()) // 3600 * 3600
    async with InfluxClient(settings.influx) as influx:
        out = Writer(influx)
        await out.write(year_lines(sample, now))
        year = out.points
        await out.write(week_lines(week_homes, set(sample), now))
    return year, out.points - year


def timed(client: httpx.Client, path: str, n: int) -> tuple[list[float], list[float], int]:
    server, seen = [], []
    size = 0
    for _ in range(n):
        began = time.perf_counter()
        response = client.get(path)
        seen.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise LookupError(f"HTTP {response.status_code}")
        timing = response.headers.get("server-timing", "app;dur=0")
        server.append(float(timing.split("dur=")[1]))
        size = len(response.content)
    return server, seen, size


def summary_rounds(settings: Settings, store: AlertStore) -> None:
    conf = settings.dashboard
    tracker = ClimateTracker(cold_c=conf.cold_c, hot_c=conf.hot_c)
    refresher = Refresher(store.engine)
    homes = home_ids(store.engine)

    async def passes() -> None:
        async with InfluxClient(settings.influx) as influx:
            for label in ("first (the whole week)", "steady (the newest hours)"):
                climate, f = await tracker.run_pass(influx, homes, dt.datetime.now(dt.UTC))
                print(
                    f"climate pass, {label}: {f.seconds:.1f} s, {f.hours_read} hours x "
                    f"{len(homes):,} homes, {f.queries:,} queries, {f.values:,} hourly means; "
                    f"{len(climate.cold_hours):,} homes with cold hours, "
                    f"{len(climate.hot_hours):,} hot, {len(climate.mould):,} with a mould index"
                )
                refresher.climate = climate

    asyncio.run(passes())
    for label in ("first (every row written)", "steady"):
        began = time.perf_counter()
        n, written = refresher.write_round(dt.datetime.now(dt.UTC))
        took = time.perf_counter() - began
        print(f"summary round, {label}: {took:.2f} s for {n:,} homes, {written:,} rows written")


def start_dashboard(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "HOF_STATE_DIR": str(state),
        "HOF_LOG_LEVEL": "WARNING",
        "HOF_DASHBOARD__PORT": "0",
        # Its refresher does one round at start (before InfluxDB has data), then waits.
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
    deadline = time.monotonic() + 120
    while True:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the dashboard did not start")
        if registration.exists():
            metrics = json.loads(registration.read_text())["url"]
            found = parse_text(httpx.get(metrics, timeout=10).text)
            passes = sum(found.get("hof_dashboard_climate_passes_total", {}).values())
            rounds = sum(found.get("hof_dashboard_refresh_rounds_total", {}).values())
            if passes and rounds:
                return proc, str(metrics).removesuffix("/metrics")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--homes", type=int, default=50_000)
    parser.add_argument("--week-homes", type=int, default=None, help="default: every home")
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    week_homes = args.homes if args.week_homes is None else min(args.week_homes, args.homes)
    began = time.monotonic()
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
            step = max(1, args.homes // args.sample)
            sample = [home_id(i) for i in range(0, args.homes, step)][: args.sample]
            for email, role, patches in (
                ("admin@bench.invalid", Role.ADMIN, ("*",)),
                ("officer@bench.invalid", Role.HOUSING_OFFICER, ("North",)),
            ):
                create_user(
                    store.engine,
                    email=email,
                    name=role.value,
                    role=role,
                    password=PASSWORD,
                    patches=patches,
                )
            token = create_token(store.engine, "admin@bench.invalid", "bench")
            proc, url = start_dashboard(state)

            t0 = time.perf_counter()
            year, week = asyncio.run(seed_readings(settings, sample, week_homes))
            print(
                f"InfluxDB: {year:,} points (a year hourly, {len(sample)} homes) and {week:,} "
                f"(a week hourly, {week_homes:,} homes) in {time.perf_counter() - t0:.0f} s"
            )
            summary_rounds(settings, store)
            store.close()

            n = args.requests
            home = sample[len(sample) // 2]
            results = []
            for who, paths in (
                (
                    "admin",
                    [
                        ("overview, page 1 (all homes)", "/estate"),
                        ("overview, high risk, search 'oak'", "/estate?risk=high&q=oak"),
                        ("overview, search a reference", "/estate?q=PR0031337"),
                        ("overview, page 500", "/estate?page=500"),
                        ("home page (24 h charts)", f"/homes/{home}"),
                        ("home page (1 y charts)", f"/homes/{home}?range=1y"),
                        ("API series 24 h", f"/api/v1/homes/{home}/series?range=24h"),
                        ("API series 1 y", f"/api/v1/homes/{home}/series?range=1y"),
                        ("API homes, limit 50", "/api/v1/homes?limit=50"),
                        ("API one home", f"/api/v1/homes/{home}"),
                    ],
                ),
                (
                    "officer",
                    [
                        ("overview as an officer (one patch)", "/estate"),
                        ("officer, estate and risk", "/estate?estate=North+estate+1&risk=low"),
                    ],
                ),
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
                        try:
                            timed(client, path, 3)  # warm caches
                            server, seen, size = timed(client, path, n)
                        except LookupError as exc:
                            print(f"{label}: {path} answered {exc}: missing, not timed")
                            continue
                        results.append((label, server, seen, size))
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
                assert api.get("/api/v1/homes", params={"limit": 1}).status_code == 200
            print(f"\n{n} requests each, one at a time, on this machine ({os.cpu_count()} cores)")
            print(
                f"{'':40} {'server p50':>10} {'p99':>8} {'client p50':>10} {'p99':>8} {'bytes':>8}"
            )
            for label, server, seen, size in results:
                print(
                    f"{label:40} {statistics.median(server):8.1f}ms {pct(server, 0.99):6.1f}ms "
                    f"{statistics.median(seen):8.1f}ms {pct(seen, 0.99):6.1f}ms {size:8,}"
                )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(20)
            stack.down()
    print(f"\nbench run time {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
