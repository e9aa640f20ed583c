"""Simulate an estate of homes whose sensors publish realistic readings over MQTT.

First the history (`--backfill 7d`, or everything since `--start`) goes out as fast as the
broker acknowledges it, several intervals to a pack; then one pack per device every interval,
in real time, until `--duration` passes or SIGINT/SIGTERM, after which in-flight messages are
flushed and every device's retained status is set offline.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import signal
import threading
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import structlog

from hof.demo import parse_duration
from hof.errors import ConfigError
from hof.settings import Settings
from simulator.estate import WARMUP_S, Estate
from simulator.pendant import Pendants
from simulator.publisher import Publisher, PublishError
from simulator.telecare import Scenario

__all__ = ["add_arguments", "parse_time", "run"]

log = structlog.get_logger(__name__)

_PROGRESS_EVERY_S = 5.0
_ANSWER_EVERY_S = 1.0  # a pendant's answer to a check goes out within this


def parse_time(text: str) -> float:
    """Epoch seconds, or an ISO 8601 time (UTC unless it says otherwise) -> epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is neither epoch seconds nor an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `hof simulate`."""
    parser.add_argument("--homes", type=int, default=100, help="homes in the estate (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="the estate's random seed (default 1)")
    parser.add_argument(
        "--interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="seconds between readings (default 300, the contract's)",
    )
    parser.add_argument(
        "--backfill",
        metavar="DURATION",
        help="first publish this much history up to now, e.g. 7d (default none)",
    )
    parser.add_argument(
        "--start",
        metavar="TIME",
        help="the simulation's first sample, epoch seconds or ISO 8601; history from then to "
        "now is backfilled (instead of --backfill); fixes the output for a given seed",
    )
    parser.add_argument(
        "--duration", metavar="DURATION", help="stop after this long (default: until a signal)"
    )
    parser.add_argument(
        "--id-prefix",
        default="SIM",
        help="home ids are PREFIX-000001... (default SIM); tests use their own",
    )
    parser.add_argument(
        "--pack-intervals",
        type=int,
        default=36,
        metavar="N",
        help="backfill packs hold up to N intervals of one device (default 36; the 500-record "
        "and 16 KiB limits split them further)",
    )
    parser.add_argument(
        "--register",
        action="store_true",
        help="also enter the homes in the platform's registry (made-up addresses, estates, "
        "wards and patches) so the dashboard can show them",
    )
    parser.add_argument(
        "--telecare",
        action="store_true",
        help="during the live run, falls (some cancelled), pendant presses, leaks and a missed "
        "routine in a few telecare homes (simulator/telecare.py)",
    )
    parser.add_argument(
        "--telecare-rate",
        type=float,
        metavar="N",
        help="with --telecare: events per 10 minutes (default 3 per 100 homes)",
    )
    parser.add_argument(
        "--max-pending",
        type=int,
        default=1000,
        metavar="N",
        help="unacknowledged messages allowed at once (default 1000)",
    )


class _Progress:
    """Counts what went out and logs a line every few seconds."""

    def __init__(self, homes: int, phase: str) -> None:
        self.homes = homes
        self.phase = phase
        self.packs = 0
        self.records = 0
        self.started = time.monotonic()
        self._next = self.started + _PROGRESS_EVERY_S

    def add(self, records: int, simulated_to: float, publisher: Publisher) -> None:
        self.packs += 1
        self.records += records
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _PROGRESS_EVERY_S
            self.log(simulated_to, publisher)

    def log(
        self, simulated_to: float, publisher: Publisher, event: str = "progress", **extra: Any
    ) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        log.info(
            f"simulate_{self.phase}_{event}",
            **extra,
            homes=self.homes,
            packs=self.packs,
            records=self.records,
            packs_per_s=round(self.packs / elapsed, 1),
            records_per_s=round(self.records / elapsed),
            simulated_to=datetime.fromtimestamp(simulated_to, UTC).isoformat(),
            unacknowledged=publisher.pending,
        )


def _install_stop(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("simulate_stopping", signal=signal.Signals(signum).name)
        stop.set()
        # A second signal is someone who will not wait for the flush: let it end the process.
        signal.signal(signum, signal.SIG_DFL)

    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}


def _register(estate: Estate, settings: Settings) -> None:
    from hof.alertstore import make_engine, migrate, store_url
    from hof.consent import Stream
    from hof.registry import upsert_homes
    from hof.registry.consent import ConsentIn, publish_current, record_consents
    from simulator.addresses import registry_rows

    url = store_url(settings)
    migrate(url)
    engine = make_engine(url)
    try:
        rows = registry_rows(estate)
        written = upsert_homes(engine, rows)
        # The simulated tenants with telecare agreed to it: their movement and falls are
        # collected (docs/data-protection.md); the others' are dropped where they enter.
        agreed = [
            ConsentIn(home=h.id, stream=s, granted=True, note="simulated tenant's agreement")
            for h in rows
            if h.telecare
            for s in (Stream.ACTIVITY, Stream.TELECARE)
        ]
        changed = record_consents(engine, agreed, recorded_by="hof simulate")
        publish_current(settings.mqtt, engine, changed)
    finally:
        engine.dispose()
    log.info("simulate_registered", homes=written, telecare_consents=len(changed))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`hof simulate`: publish the estate until the duration passes or a signal arrives."""
    if args.homes < 1:
        raise ConfigError("--homes must be at least 1")
    if args.interval < 1:
        raise ConfigError("--interval must be at least 1 second")
    if args.pack_intervals < 1 or args.max_pending < 1:
        raise ConfigError("--pack-intervals and --max-pending must be at least 1")
    if args.backfill and args.start:
        raise ConfigError("give --backfill or --start, not both")
    sim = settings.simulator
    if sim.mqtt_username is None:
        raise ConfigError(
            "the simulator needs its own broker credential: set simulator.mqtt_username and "
            "simulator.mqtt_password (HOF_SIMULATOR__MQTT_USERNAME, ...)"
        )
    duration = parse_duration(args.duration) if args.duration else None
    now = time.time()
    if args.start:
        start = parse_time(args.start)
    else:
        start = now - (parse_duration(args.backfill) if args.backfill else 0.0)
    try:
        estate = Estate(args.homes, args.seed, id_prefix=args.id_prefix)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc

    if args.register:
        _register(estate, settings)
    publisher = Publisher(
        settings.mqtt,
        username=sim.mqtt_username,
        password=sim.mqtt_password.get_secret_value() if sim.mqtt_password else None,
        client_id=f"hof-simulate-{args.id_prefix}-{os.getpid()}-{secrets.token_hex(3)}",
        max_pending=args.max_pending,
    )
    # The pendants show the notices the platform sends and answer most checks.
    pendants = Pendants({home.id for home in estate.homes}, args.seed)
    publisher.listen("hof/v1/+/+/notice", pendants.on_notice)
    stop = threading.Event()
    previous = _install_stop(stop)
    began = time.monotonic()
    deadline = began + duration if duration is not None else math.inf
    try:
        publisher.connect()
        log.info(
            "simulate_started",
            homes=args.homes,
            devices=estate.devices,
            seed=args.seed,
            interval_s=args.interval,
            start=datetime.fromtimestamp(start, UTC).isoformat(),
        )
        for topic, payload in estate.configs(args.interval):
            publisher.publish(topic, payload, retain=True)
        for topic, payload in estate.statuses(time.time()):
            publisher.publish(topic, payload, retain=True)
        scenario = None
        if args.telecare:
            scenario = Scenario(estate, args.seed, time.time(), per_10_min=args.telecare_rate)
            for topic, payload in scenario.retained(time.time()):
                publisher.publish(topic, payload, retain=True)
        return _publish(estate, publisher, args, start, deadline, stop, pendants, scenario)
    except PublishError as exc:
        log.error("simulate_failed", error=str(exc))
        return 1
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        publisher.close()


def _publish(
    estate: Estate,
    publisher: Publisher,
    args: argparse.Namespace,
    start: float,
    deadline: float,
    stop: threading.Event,
    pendants: Pendants | None = None,
    scenario: Scenario | None = None,
) -> int:
    homes = len(estate.homes)
    log.info("simulate_warming_up", homes=homes, days=WARMUP_S / 86_400)
    warm_from = time.monotonic()
    simulation = estate.run(start, args.interval)
    # The warm-up is preparation, not publishing: `--duration` counts from its end, so that a
    # busy machine's slower warm-up does not cut the history short (it cut a 1 s run's history
    # to one pack under load).
    deadline += time.monotonic() - warm_from

    def over() -> bool:
        return stop.is_set() or time.monotonic() >= deadline

    # The history: everything up to the moment the backfill began, as fast as acknowledged.
    backfill = _Progress(homes, "backfill")
    until = time.time()
    if simulation.next_time <= until:
        complete = True
        for pack in simulation.packs_until(until, args.pack_intervals):
            payload = scenario.adjust(pack.topic, pack.payload) if scenario else pack.payload
            publisher.publish(pack.topic, payload)
            backfill.add(pack.records, pack.time, publisher)
            if over():
                complete = False
                break
        # `hof demo` starts its readings rules once `packs` are stored, if the history is whole.
        backfill.log(simulation.next_time - args.interval, publisher, "done", complete=complete)

    # Real time: each sample is published once its time has come, never before.
    live = _Progress(homes, "live")
    while not over():
        for topic, payload in pendants.take_answers() if pendants else ():
            publisher.publish(topic, payload)
        for topic, payload, what in scenario.due(time.time()) if scenario else ():
            log.info("simulate_telecare", topic=topic, what=what)
            publisher.publish(topic, payload)
        wait = simulation.next_time - time.time()
        if wait > 0:
            stop.wait(min(wait, deadline - time.monotonic(), _ANSWER_EVERY_S))
            continue
        for pack in simulation.packs_until(time.time(), 1):
            payload = scenario.adjust(pack.topic, pack.payload) if scenario else pack.payload
            publisher.publish(pack.topic, payload)
            live.add(pack.records, pack.time, publisher)

    # Stopping: what is in flight is acknowledged first, then every device goes offline.
    timeout = max(publisher.settings.timeout_s, 10.0)
    flushed = publisher.flush(timeout)
    for topic, payload in estate.statuses(time.time(), online=False):
        publisher.publish(topic, payload, retain=True)
    for topic, payload in scenario.retained(time.time(), online=False) if scenario else ():
        publisher.publish(topic, payload, retain=True)
    flushed = publisher.flush(timeout) and flushed
    live.log(simulation.next_time - args.interval, publisher, "stopped")
    log.info(
        "simulate_stopped",
        published=publisher.published,
        acknowledged=publisher.acknowledged,
        refused=publisher.refused,
        unacknowledged=publisher.pending,
    )
    if not flushed:
        log.error("simulate_unacknowledged", count=publisher.pending)
    return 0 if flushed and publisher.refused == 0 else 1
