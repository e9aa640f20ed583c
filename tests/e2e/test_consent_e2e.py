"""Through the real stack: what a home has not consented to is dropped where it enters.

Ingest and the rules engine run as processes with the production default for a home with no
consent record (environment only), on a private stack so that no other test's workers (which
collect every stream) store what these must not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hofsupport import AlertsProcess, Device, IngestProcess, influx_query, wait_until

from hof.alertstore import make_engine, migrate, store_url
from hof.alertstore.api import AlertStore
from hof.alertstore.records import AlertFilter
from hof.alertstore.vocabulary import Category
from hof.consent import Stream
from hof.registry import HomeIn, upsert_homes
from hof.registry.consent import ConsentIn, publish_current, record_consents
from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e

PRODUCTION_DEFAULT = '["environment"]'


@dataclass
class Platform:
    stack: Stack
    settings: Settings
    ingest: IngestProcess
    alerts: AlertsProcess
    store: AlertStore


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("consent")
    stack = Stack(Settings(environment="test", state_dir=state))
    stack.up()
    settings = Settings(
        environment="test", state_dir=state, log_format="console", **stack.info.settings()
    )
    migrate(store_url(settings))
    th = state / "thresholds.json"
    th.write_text(json.dumps({"inactivity_by_hour": None, "inactivity_hours": 12.0}))
    env = {"HOF_RIGHTS__UNRECORDED": PRODUCTION_DEFAULT}
    ingest = IngestProcess(state, "ingest-consent", **env)
    alerts = AlertsProcess(state, "alerts-consent", HOF_ALERTS__THRESHOLDS_FILE=str(th), **env)
    ingest.start()
    alerts.start()
    store = AlertStore.from_settings(settings)
    yield Platform(stack, settings, ingest, alerts, store)
    store.close()
    for worker in (ingest, alerts):
        if worker.proc is not None:
            worker.stop()
    stack.down()


def register(settings: Settings, *homes: str) -> None:
    engine = make_engine(store_url(settings))
    upsert_homes(
        engine, [HomeIn(id=h, reference=f"REF-{h}", address="1 Test Street") for h in homes]
    )
    engine.dispose()


def decide(settings: Settings, home: str, stream: Stream, granted: bool) -> None:
    """Record a decision in the registry and publish it, as the CLI and the admin API do."""
    engine = make_engine(store_url(settings))
    decision = ConsentIn(home=home, stream=stream, granted=granted)
    changed = record_consents(engine, [decision], recorded_by="test@example.org")
    publish_current(settings.mqtt, engine, changed)
    engine.dispose()


def applied(platform: Platform) -> tuple[float, float]:
    """The consent messages each worker has applied: a grant is learned on a connection of the
    workers' own, so a device's data published just after it can arrive first (and is dropped,
    as it should be while the grant is not known)."""
    return (
        platform.ingest.by_label("hof_ingest_consent_messages_total", "outcome").get("applied", 0),
        platform.alerts.by_label("hof_alerts_consent_messages_total", "outcome").get("applied", 0),
    )


def points(settings: Settings, home: str, field: str) -> int:
    series = influx_query(
        settings, f"SELECT count({field}) FROM reading, event WHERE \"home\"::tag = '{home}'"
    )
    return int(sum(s["values"][0][1] for s in series))


def inactivity(store: AlertStore, home: str) -> int:
    where = AlertFilter(homes=[home], categories=(Category.INACTIVITY,))
    return len(store.list(where, limit=10).items)


def quiet_morning(stack: Stack, home: str) -> list[Device]:
    """Movement 13 hours ago, and a temperature now: a day with no movement since."""
    now = round(time.time(), 3)
    pir, env = Device(stack, home, "tc-pir"), Device(stack, home, "env-1")
    pir.publish("event", [{"bn": "tc-pir/", "bt": now - 13 * 3600, "n": "motion", "vb": True}])
    env.publish("reading", [{"bn": "env-1/", "bt": now, "n": "temperature", "u": "Cel", "v": 19.5}])
    return [pir, env]


def test_a_home_without_activity_consent_stores_no_motion_and_raises_no_inactivity(
    platform: Platform, home_id: str
) -> None:
    consented, unrecorded = f"{home_id}-yes", f"{home_id}-no"
    register(platform.settings, consented, unrecorded)
    before = applied(platform)
    decide(platform.settings, consented, Stream.ACTIVITY, True)
    # The tenant's consent reaches both workers before the home's one motion event: sent
    # together, the event could come first under load, be dropped, and no quiet be judged.

    def learned() -> bool:
        return all(a > b for a, b in zip(applied(platform), before, strict=True))

    assert wait_until(learned, 10)
    devices = quiet_morning(platform.stack, consented) + quiet_morning(platform.stack, unrecorded)
    try:
        # The consented home shows the rule works: its movement is stored and its quiet raises.
        assert wait_until(lambda: inactivity(platform.store, consented) == 1, 15)
        assert wait_until(lambda: points(platform.settings, consented, "motion") == 1, 5)
        assert wait_until(lambda: points(platform.settings, unrecorded, "temperature") == 1, 5)
        time.sleep(1.5)  # three more of the rules engine's ticks
        assert points(platform.settings, unrecorded, "motion") == 0
        assert inactivity(platform.store, unrecorded) == 0
        refused = platform.ingest.by_label("hof_ingest_records_refused_total", "reason")
        assert refused.get("no_consent_activity", 0) >= 1
        judged = platform.alerts.by_label("hof_alerts_records_refused_total", "reason")
        assert judged.get("no_consent_activity", 0) >= 1
        # Dropped, not refused: no dead letter carries the tenant's movement anywhere.
        assert platform.ingest.metrics().get("hof_ingest_deadletters_total", 0) == 0
    finally:
        for d in devices:
            d.close()


def test_withdrawal_stops_collection_within_five_seconds_without_a_restart(
    platform: Platform, home_id: str
) -> None:
    register(platform.settings, home_id)
    decide(platform.settings, home_id, Stream.ACTIVITY, True)
    pids = [w.proc.pid for w in (platform.ingest, platform.alerts) if w.proc is not None]
    pir = Device(platform.stack, home_id, "tc-pir")
    stop = threading.Event()
    sent: list[float] = []

    def move() -> None:  # a tenant walking about: a motion event every 100 ms
        for _ in range(600):
            if stop.is_set():
                return
            t = round(time.time(), 3)
            pir.publish("event", [{"bn": "tc-pir/", "bt": t, "n": "motion", "vb": True}])
            sent.append(t)
            time.sleep(0.1)

    walker = threading.Thread(target=move)
    walker.start()
    try:
        assert wait_until(lambda: points(platform.settings, home_id, "motion") > 5, 10)
        withdrawn_at = time.time()
        decide(platform.settings, home_id, Stream.ACTIVITY, False)
        time.sleep(7.0)
        stop.set()
        walker.join(10)
        last = influx_query(
            platform.settings,
            f"SELECT last(motion) FROM event WHERE \"home\"::tag = '{home_id}'",
        )
        last_stored = last[0]["values"][0][0] / 1000
        assert sent[-1] > withdrawn_at + 6  # it kept moving after the withdrawal
        stopped = last_stored - withdrawn_at
        print(f"collection stopped {stopped:.2f} s after the withdrawal was recorded")
        assert stopped < 5.0, f"stored {stopped:.2f} s on"
        # The same processes: nothing was restarted.
        workers = (platform.ingest, platform.alerts)
        assert [w.proc.pid for w in workers if w.proc is not None and w.proc.poll() is None] == pids
    finally:
        stop.set()
        walker.join(10)
        pir.close()
