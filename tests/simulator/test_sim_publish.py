"""`hof simulate` against the real broker: history, real time, retained config and status."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from structlog.testing import capture_logs

from hof.errors import ConfigError
from hof.senml import Record, parse_pack
from hof.settings import Settings
from hof.stack import Stack
from hof.topic import Topic
from simulator.cli import add_arguments, parse_time, run
from simulator.estate import Estate

pytestmark = pytest.mark.e2e


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def readings_of(messages: list[tuple[str, bytes]], prefix: str, now: float) -> list[Record]:
    out: list[Record] = []
    for topic, payload in list(messages):
        parsed = Topic.parse(topic)
        if parsed.home.startswith(f"{prefix}-"):
            out.extend(parse_pack(parsed, payload, received_at=now))
    return out


def expected_records(estate: Estate, start: float, end: float, interval: float) -> list[Record]:
    packs = list(estate.packs(start, end, interval))
    return sorted(readings_of(packs, estate.id_prefix, end), key=lambda r: r.key)


@pytest.fixture
def prefix(settings: Settings) -> Iterator[str]:
    """A home-id prefix of this test's own; its retained topics are cleared afterwards."""
    mine = f"S{uuid.uuid4().hex[:8]}"
    yield mine
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    assert settings.mqtt.password is not None
    client.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    retained: list[str] = []
    client.on_message = lambda c, u, m: retained.append(m.topic) if m.retain else None
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    client.subscribe("hof/v1/#", 1)
    time.sleep(0.5)
    for topic in {t for t in retained if t.split("/")[2].startswith(f"{mine}-")}:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def retained_json(
    watcher: Callable[[str], Any], topic_filter: str, prefix: str, count: int
) -> dict[str, Any]:
    seen = watcher(topic_filter)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mine = {t: p for t, p in list(seen.messages) if t.split("/")[2].startswith(f"{prefix}-")}
        if len(mine) >= count:
            break
        time.sleep(0.05)
    return {t: json.loads(p) for t, p in mine.items()}


def test_history_and_live_readings_reach_the_platform_in_full(
    settings: Settings, stack: Stack, watcher: Callable[[str], Any], prefix: str
) -> None:
    interval = 60.0
    began = time.time()
    start = math.floor(began / interval) * interval - 90 * interval  # 1.5 h of history
    readings = watcher("hof/v1/+/+/reading")
    args = cli_args(
        "--homes", "3", "--seed", "4", "--id-prefix", prefix, "--start", str(start),
        "--interval", str(interval), "--duration", "3s", "--pack-intervals", "20",
    )  # fmt: skip

    with capture_logs() as logs:
        assert run(args, settings) == 0
    done = [e for e in logs if e["event"] == "simulate_backfill_done"]
    assert len(done) == 1
    assert done[0]["homes"] == 3
    assert done[0]["records"] > 0
    assert done[0]["packs"] > 0

    estate = Estate(3, seed=4, id_prefix=prefix)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = readings_of(readings.messages, prefix, time.time())
        if got and max(r.time for r in got) >= math.floor(began / interval) * interval:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # anything still on its way
    got = sorted(readings_of(readings.messages, prefix, time.time()), key=lambda r: r.key)
    last = max(r.time for r in got)
    assert last >= math.floor(began / interval) * interval, "the history stopped short of now"
    assert last <= time.time()
    # Every record of every device from the start to the last, exactly once, exactly as the
    # pure generator makes them: nothing dropped, nothing invented.
    assert got == expected_records(estate, start, last, interval)
    assert len({r.home for r in got}) == 3

    configs = retained_json(watcher, "hof/v1/+/+/config", prefix, estate.devices)
    assert len(configs) == estate.devices
    rooms = {room for body in configs.values() for room in body["rooms"].values()}
    assert {"living_room", "bedroom", "bathroom", "kitchen"} <= rooms
    assert all(body["interval_s"] == 60 for body in configs.values())
    statuses = retained_json(watcher, "hof/v1/+/+/status", prefix, estate.devices)
    assert len(statuses) == estate.devices
    assert all(body == {"state": "offline"} for body in statuses.values())


def test_sigterm_stops_cleanly_after_publishing_in_real_time(
    settings: Settings, stack: Stack, watcher: Callable[[str], Any], prefix: str
) -> None:
    start = float(math.ceil(time.time()) + 1)
    readings = watcher("hof/v1/+/+/reading")
    statuses = watcher("hof/v1/+/+/status")
    env = {
        **os.environ,
        "HOF_STATE_DIR": str(stack.settings.state_dir),
        "HOF_ENVIRONMENT": "test",
        "HOF_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hof.cli", "simulate", "--homes", "2", "--seed", "3",
         "--id-prefix", prefix, "--interval", "1", "--start", str(start)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            times = {r.time for r in readings_of(readings.messages, prefix, time.time())}
            if len(times) >= 3:
                break
            assert proc.poll() is None, proc.communicate()[0].decode()
            time.sleep(0.1)
        assert len(times) >= 3, "no live readings arrived"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "simulate_stopped" in output

    time.sleep(0.3)  # the broker's last deliveries to our subscriber
    got = sorted(readings_of(readings.messages, prefix, time.time()), key=lambda r: r.key)
    # Up to the last second every device reached: the stop may come between two homes'
    # packs of one second (CI, 3 Dec 2026: home 2's last second missing, home 1's there).
    reached: dict[tuple[str, str], float] = {}
    for r in got:
        reached[(r.home, r.device)] = max(reached.get((r.home, r.device), 0.0), r.time)
    last = min(reached.values())
    got = [r for r in got if r.time <= last]
    assert got == expected_records(Estate(2, seed=3, id_prefix=prefix), start, last, 1.0)
    mine = [json.loads(p) for t, p in list(statuses.messages) if f"/{prefix}-" in t]
    devices = Estate(2, seed=3, id_prefix=prefix).devices
    assert sum(s["state"] == "online" for s in mine) == devices
    assert sum(s == {"state": "offline"} for s in mine) == devices


def test_the_simulator_needs_its_own_credential(settings: Settings) -> None:
    without = settings.model_copy(update={"simulator": settings.simulator.model_copy(
        update={"mqtt_username": None})})  # fmt: skip
    with pytest.raises(ConfigError, match="credential"):
        run(cli_args("--homes", "1"), without)


def test_a_wrong_password_is_a_clear_failure(settings: Settings) -> None:
    from pydantic import SecretStr

    wrong = settings.model_copy(update={"simulator": settings.simulator.model_copy(
        update={"mqtt_password": SecretStr("not-the-password")})})  # fmt: skip
    assert run(cli_args("--homes", "1", "--duration", "1s"), wrong) == 1


def test_times_parse_as_epoch_or_iso() -> None:
    assert parse_time("1767225600") == 1_767_225_600.0
    assert parse_time("2026-01-01T00:00:00Z") == 1_767_225_600.0
    assert parse_time("2026-01-01T00:00:00") == 1_767_225_600.0
    with pytest.raises(ConfigError):
        parse_time("yesterday")


def test_a_broker_restart_mid_backfill_loses_nothing(
    make_stack: Callable[[], tuple[Stack, Settings]],
) -> None:
    private, settings = make_stack()
    got: list[tuple[str, bytes]] = []
    # A platform consumer with a persistent session: the broker keeps its messages across the
    # restart, so whatever the simulator had acknowledged reaches it.
    consumer = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"consumer-{uuid.uuid4().hex[:8]}",
        clean_session=False,
        protocol=paho.MQTTv311,
    )
    assert settings.mqtt.password is not None
    consumer.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    consumer.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    consumer.on_connect = lambda c, *a: c.subscribe("hof/v1/+/+/reading", 1)
    consumer.reconnect_delay_set(0.2, 1)
    consumer.connect(settings.mqtt.host, settings.mqtt.port)
    consumer.loop_start()
    time.sleep(0.3)

    interval = 300.0
    # Six hours of 30 homes (about 9,000 packs): enough to restart the broker in the middle of,
    # and done well inside --duration even on a loaded machine (a day's 35,000 packs at the
    # 2,000 a second seen in CI were cut short by the 15 s duration).
    start = math.floor(time.time() / interval) * interval - 6 * 3600.0
    args = cli_args(
        "--homes", "30", "--seed", "6", "--id-prefix", "R", "--start", str(start),
        "--pack-intervals", "1", "--duration", "15s",
    )  # fmt: skip
    # The backfill reaches at least the last boundary before it starts; a boundary that passes
    # during the run may or may not be published before --duration ends, so it is not expected.
    end = math.floor(time.time() / interval) * interval
    estate = Estate(30, seed=6, id_prefix="R")
    want = {r.key: r for r in expected_records(estate, start, end, interval)}
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run(args, settings)))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(got) < 3_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(got) >= 3_000, "the backfill did not get going"
        private.broker.stop()
        assert len(readings_of(got, "R", time.time())) < len(want), "restarted after the backfill"
        time.sleep(1.0)
        private.broker.start()
    finally:
        worker.join(60)
    assert result == [0]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        have = {r.key: r for r in readings_of(got, "R", time.time())}
        if set(want) <= set(have):
            break
        time.sleep(0.2)
    consumer.disconnect()
    consumer.loop_stop()
    missing = set(want) - set(have)
    assert not missing, f"{len(missing)} of {len(want)} records never arrived"
    assert all(have[k] == want[k] for k in want)  # redelivered copies are the same records


def test_a_simulated_estate_lands_in_influxdb_with_rooms(
    settings: Settings,
    ingest_process: Any,
    query: Callable[[str], list[dict[str, Any]]],
    eventually: Callable[..., bool],
    prefix: str,
) -> None:
    interval = 300.0
    # The estate runs up to the present: a five-minute boundary passed during the run would add
    # a 38th sample (seen in CI), so start well clear of the next one.
    if interval - time.time() % interval < 15:
        time.sleep(interval - time.time() % interval + 0.5)
    start = math.floor(time.time() / interval) * interval - 3 * 3600
    args = cli_args(
        "--homes", "2", "--seed", "8", "--id-prefix", prefix, "--start", str(start),
        "--duration", "1s",
    )  # fmt: skip
    assert run(args, settings) == 0
    estate = Estate(2, seed=8, id_prefix=prefix)
    samples = 37  # three hours of five-minute samples, both ends included

    def temperatures_by_room() -> dict[str, float]:
        series = query(
            f"SELECT count(temperature) FROM reading WHERE home =~ /^{prefix}-/ GROUP BY room"
        )
        return {s["tags"]["room"]: s["values"][0][1] for s in series}

    want = {room: 2 * samples for room in ("living_room", "bedroom", "bathroom", "kitchen")}
    want["outdoor"] = samples  # the estate's one outdoor sensor, on its first home
    # The session's ingest worker may still be draining the larger estates of earlier tests.
    assert eventually(lambda: temperatures_by_room() == want, timeout_s=60), temperatures_by_room()
    co2 = query(f"SELECT count(co2) FROM reading WHERE home =~ /^{prefix}-/")
    assert co2[0]["values"][0][1] == 2 * 2 * samples  # living rooms and bedrooms
    assert estate.devices >= 8


def test_the_duration_also_cuts_a_long_backfill_short_and_cleanly(
    settings: Settings, watcher: Callable[[str], Any], prefix: str
) -> None:
    args = cli_args(
        "--homes", "300", "--id-prefix", prefix, "--backfill", "7d", "--duration", "1s"
    )  # fmt: skip
    began = time.monotonic()
    assert run(args, settings) == 0
    assert time.monotonic() - began < 15
    devices = Estate(300, seed=1, id_prefix=prefix).devices
    statuses = retained_json(watcher, "hof/v1/+/+/status", prefix, devices)
    assert len(statuses) == devices
    assert all(body == {"state": "offline"} for body in statuses.values())
