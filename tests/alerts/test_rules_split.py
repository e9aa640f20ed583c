"""Through the real broker, two rules-engine processes on one alert store: a `telecare` worker
(falls, help calls, leaks, smoke, tamper, in a process that reads no readings) and a `rest`
worker (everything else). Each event is judged by exactly one of them: one alert per fall, its
cancel honoured, and the tenant's check-in and the readings left to the other."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hofsupport import AlertsProcess, Device, alerts_of, open_store_in, wait_until

from hof.alertstore.api import AlertStore
from hof.alertstore.vocabulary import Category, Outcome, State
from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("split-store")


def _worker(stack: Stack, store_dir: Path, rules: str) -> AlertsProcess:
    # As hof demo and deploy/systemd run them: the rest worker's readings yield the CPU.
    nice = "10" if rules == "rest" else "0"
    th = store_dir / "thresholds.json"
    th.write_text(
        json.dumps({"confirm_window_s": 30.0, "inactivity_hours": 1.0, "inactivity_by_hour": None})
    )
    return AlertsProcess(
        stack.settings.state_dir,
        f"alerts-split-{rules}",
        HOF_ALERTS__RULES=rules,
        HOF_ALERTS__NICE=nice,
        HOF_ALERTS__THRESHOLDS_FILE=str(th),
        HOF_ALERTSTORE__URL=f"sqlite:///{store_dir / 'alerts.sqlite'}",
        HOF_ALERTS__SHARE_GROUP=f"alerts-split-{rules}",
        HOF_ALERTS__SESSION_EXPIRY_S="0",
    )


@pytest.fixture(scope="module")
def workers(stack: Stack, store_dir: Path) -> Iterator[dict[str, AlertsProcess]]:
    pair = {rules: _worker(stack, store_dir, rules) for rules in ("telecare", "rest")}
    for worker in pair.values():
        worker.start()
    yield pair
    for worker in pair.values():
        if worker.proc is not None:
            worker.stop()


@pytest.fixture(scope="module")
def store(
    settings: Settings, workers: dict[str, AlertsProcess], store_dir: Path
) -> Iterator[AlertStore]:
    opened = open_store_in(settings, store_dir)
    yield opened
    opened.close()


def channels(worker: AlertsProcess) -> dict[str, float]:
    return worker.by_label("hof_alerts_messages_total", "channel")


def rules_found(worker: AlertsProcess) -> set[str]:
    """The rules this worker has made findings of (raised, cleared, withdrawn...)."""
    return set(worker.by_label("hof_alerts_findings_total", "rule"))


TELECARE_RULES = {"fall", "help_button", "water_leak", "smoke", "tamper"}


def logs(workers: dict[str, AlertsProcess]) -> str:
    return "\n".join(f"--- {k}\n{w.log_tail()}" for k, w in workers.items())


def test_each_event_is_judged_by_one_worker_of_the_pair(
    device: Callable[[str], Device],
    home_id: str,
    store: AlertStore,
    workers: dict[str, AlertsProcess],
) -> None:
    telecare, rest = workers["telecare"], workers["rest"]
    pendant, pir = device("sp-pendant"), device("sp-pir")
    t = round(time.time(), 3)
    pendant.publish("event", [{"bn": "sp-pendant/", "bt": t, "n": "fall", "vs": "detected"}])
    assert wait_until(lambda: alerts_of(store, home_id)), logs(workers)
    # Both read the message; the rest worker judged none of its records.
    assert wait_until(lambda: channels(rest).get("event", 0) >= 1), logs(workers)
    time.sleep(0.5)
    (fall,) = alerts_of(store, home_id)
    assert (fall.rule, fall.state) == ("fall", State.OPEN)
    assert len(store.get(fall.id).history) == 1, store.get(fall.id).history
    # The wearer's own cancel is the telecare worker's too.
    pendant.publish("event", [{"bn": "sp-pendant/", "bt": t + 1, "n": "fall", "vs": "cancelled"}])
    assert wait_until(lambda: alerts_of(store, home_id)[0].state is State.RESOLVED), logs(workers)
    assert alerts_of(store, home_id)[0].outcome is Outcome.WITHDRAWN
    # Readings, motion and the tenant's check-in are the rest worker's: an hour's silence
    # raises inactivity, and the check-in (an event) ends it.
    pir.publish("reading", [{"bn": "sp-pir/", "bt": t - 7200, "n": "motion", "vb": True}])
    pir.publish("reading", [{"bn": "sp-pir/", "bt": t, "n": "motion", "vb": False}])
    inactivity = Category.INACTIVITY
    assert wait_until(lambda: alerts_of(store, home_id, inactivity), 10), logs(workers)
    pendant.publish("event", [{"bn": "sp-pendant/", "bt": t + 2, "n": "checkin", "vb": True}])
    assert wait_until(lambda: alerts_of(store, home_id, inactivity)[0].state is State.RESOLVED), (
        logs(workers)
    )
    # The telecare worker never took a reading or a status: it is not subscribed to them.
    assert channels(telecare).get("reading", 0) == 0
    assert channels(telecare).get("status", 0) == 0
    assert channels(rest).get("reading", 0) >= 2
    # And only one fall alert and one inactivity alert exist for the home, each judged by
    # one worker (a fall judged twice could be raised again after its cancel, by the later).
    assert len(alerts_of(store, home_id)) == 1
    assert len(alerts_of(store, home_id, inactivity)) == 1
    assert "fall" in rules_found(telecare)
    assert not rules_found(rest) & TELECARE_RULES, rules_found(rest)
    assert rules_found(telecare) <= TELECARE_RULES, rules_found(telecare)


def test_a_help_call_then_a_leak_are_raised_once_each(
    device: Callable[[str], Device],
    home_id: str,
    store: AlertStore,
    workers: dict[str, AlertsProcess],
) -> None:
    cord, probe = device("sp-cord"), device("sp-leak")
    t = round(time.time(), 3)
    cord.publish("event", [{"bn": "sp-cord/", "bt": t, "n": "button", "vs": "pressed"}])
    probe.publish("event", [{"bn": "sp-leak/", "bt": t, "n": "leak", "vb": True}])
    both = (Category.BUTTON, Category.LEAK)
    assert wait_until(lambda: len(alerts_of(store, home_id, *both)) == 2), logs(workers)
    time.sleep(1.0)  # a second raise by the other worker would show as history
    for alert in alerts_of(store, home_id, *both):
        assert len(store.get(alert.id).history) == 1, store.get(alert.id).history
    assert {"help_button", "water_leak"} <= rules_found(workers["telecare"])
    assert not rules_found(workers["rest"]) & TELECARE_RULES


def _thread_nices(pid: int) -> set[int]:
    """The nice value of every thread of a process (field 19 of /proc/PID/task/TID/stat)."""
    out = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        out.add(int(fields[16]))
    return out


def test_the_rest_worker_yields_the_cpu_in_every_thread_and_the_telecare_worker_does_not(
    workers: dict[str, AlertsProcess],
) -> None:
    rest, telecare = workers["rest"].proc, workers["telecare"].proc
    assert rest is not None
    assert telecare is not None
    assert _thread_nices(rest.pid) == {10}  # the MQTT and store threads too
    assert _thread_nices(telecare.pid) == {os.getpriority(os.PRIO_PROCESS, 0)}


def test_a_fall_is_raised_while_the_rest_worker_is_down(
    device: Callable[[str], Device],
    home_id: str,
    store: AlertStore,
    workers: dict[str, AlertsProcess],
) -> None:
    """The readings' worker killed (or still rebuilding a large estate's history at start-up,
    which it does before it reads a message): the telecare worker raises the fall alone."""
    rest = workers["rest"]
    rest.kill()
    try:
        pendant = device("sp-pendant-down")
        t = round(time.time(), 3)
        pendant.publish(
            "event", [{"bn": "sp-pendant-down/", "bt": t, "n": "fall", "vs": "detected"}]
        )

        def raised() -> bool:
            return any(
                "sp-pendant-down" in json.dumps(a.evidence) for a in alerts_of(store, home_id)
            )

        assert wait_until(raised), logs(workers)
    finally:
        rest.start()
