"""`hof demo` starts its rules on readings once the simulator's history is stored, so that their
start-up rebuild reads the history from InfluxDB (a week of 100 homes in seconds) instead of
judging it message by message (minutes); falls are judged from the start. The whole demo runs
as a user starts it, with a small estate; and the wait is bounded when the history never
comes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hofsupport import wait_until

from hof.settings import Settings

HOMES, HISTORY = 3, "12h"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _events(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "timestamp" in entry:
            entry["at"] = dt.datetime.fromisoformat(entry["timestamp"]).timestamp()
            out.append(entry)
    return out


def _at(events: list[dict[str, Any]], event: str) -> float:
    found = [float(e["at"]) for e in events if e.get("event") == event]
    assert found, f"no {event} in the log"
    return min(found)


@pytest.mark.e2e
def test_the_demo_starts_its_readings_rules_once_the_history_is_stored(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOF_STATE_DIR": str(tmp_path),
        "HOF_DASHBOARD__PORT": "0",
        "HOF_NOTIFY__HTTP_PORT": "0",
    }
    argv = [sys.executable, "-m", "hof.cli", "demo", "--homes", str(HOMES)]
    argv += ["--backfill", HISTORY, "--duration", "3m"]
    logs = tmp_path / "logs"
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        demo = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        # Stopped (Ctrl-C, as a user would) once the rules on readings are ready.
        assert wait_until(
            lambda: b"alerts_ready" in _read(logs / "alerts.log") or demo.poll() is not None,
            150,
        ), "the rules on readings were not ready within 150 s"
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait(10)
    said = out.read_text(errors="replace")
    assert demo.returncode == 0, said[-4000:]
    sim, rules = _events(logs / "simulate.log"), _events(logs / "alerts.log")
    telecare = _events(logs / "alerts-telecare.log")
    history_done = _at(sim, "simulate_backfill_done")

    # Falls never wait: the telecare rules started before the simulator did.
    assert min(e["at"] for e in telecare) < min(e["at"] for e in sim)
    # The rules on readings started after the history was published and stored: their
    # rebuild read it from InfluxDB (on the code before, they started before the simulator,
    # and rebuilt nothing).
    assert min(e["at"] for e in rules) > history_done
    rebuilt = [e for e in rules if e.get("event") == "alerts_rebuilt" and e.get("why") == "start"]
    assert rebuilt, "the rules on readings rebuilt at start"
    assert rebuilt[0]["rows"] > 0, rebuilt
    assert _at(rules, "alerts_ready") > history_done
    assert any(e.get("complete") is True for e in sim if e["event"] == "simulate_backfill_done")
    # And the demo said what it waited for, then that the rules started.
    assert f"readings once the {HISTORY} of history is stored" in said, said[-4000:]
    assert f"Rules on readings started: the {HISTORY} of history is stored" in said, said[-4000:]


def test_the_wait_for_the_history_is_bounded_when_it_never_comes(tmp_path: Path) -> None:
    from hof.demo import BackfillWatch

    log = tmp_path / "logs" / "simulate.log"
    log.parent.mkdir()

    def line(event: str, **fields: Any) -> bytes:
        return json.dumps({"event": event, "timestamp": "2026-12-01T00:00:00Z", **fields}).encode()

    # An earlier run's line, in the log the simulator appends to, is not this run's.
    log.write_bytes(line("simulate_backfill_done", packs=0, complete=True) + b"\n")
    watch = BackfillWatch(log, Settings(environment="test", state_dir=tmp_path), bound_s=1.0)
    with log.open("ab") as out:
        out.write(line("simulate_backfill_progress", packs=10) + b"\n")
        # A history cut short by a stop is not the history, even with nothing to store.
        out.write(line("simulate_backfill_done", packs=0, complete=False) + b"\n")
        out.write(b"not JSON, from a library\n")
    assert watch.poll() is None, "waits while the bound has not passed"
    time.sleep(1.1)
    assert watch.poll() == "timeout"
    assert watch.packs is None


def test_the_wait_ends_once_ingest_has_stored_what_the_simulator_published(
    tmp_path: Path,
) -> None:
    from hof.demo import BackfillWatch

    log = tmp_path / "simulate.log"
    watch = BackfillWatch(log, Settings(environment="test", state_dir=tmp_path), bound_s=60.0)
    assert watch.poll() is None, "no log yet"
    # A line written in two parts (the simulator's write seen half done) is read once whole.
    done = json.dumps({"event": "simulate_backfill_done", "packs": 0, "complete": True})
    log.write_text(done[:20])
    assert watch.poll() is None
    with log.open("a") as out:
        out.write(done[20:] + "\n")
    # Nothing published, so nothing to store: no ingest needs to answer.
    assert watch.poll() == "stored"
    assert watch.packs == 0


@pytest.mark.e2e
async def test_an_earlier_demos_session_is_ended_with_what_was_queued_for_it(
    settings: Settings, home_id: str
) -> None:
    from hof.demo import forget_sessions
    from hof.mqtt import Delivery, Link

    topic = f"hof/v1/{home_id}/env-1/reading"

    def session(name: str) -> Link:
        return Link(
            settings.mqtt,
            name=name,
            client_id=f"{name}-{home_id}",
            queue=asyncio.Queue[Delivery](10),
            subscriptions=[(topic, 1)],
            clean_start=False,
            session_expiry_s=600,
        )

    async def connect(link: Link) -> asyncio.Task[None]:
        task = asyncio.create_task(link.run())
        await asyncio.wait_for(link.connected.wait(), 10)
        return task

    async def leave(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # Two workers' sessions, left at the broker, and a message queued for both meanwhile.
    for name in ("forgotten", "kept"):
        link = session(name)
        task = await connect(link)
        await asyncio.wait_for(link.subscribed.wait(), 10)
        await leave(task)
    publisher = Link(settings.mqtt, name="publisher", client_id=f"publisher-{home_id}")
    task = await connect(publisher)
    await publisher.publish(topic, b"[]", qos=1)
    await leave(task)

    await asyncio.to_thread(forget_sessions, settings, [f"forgotten-{home_id}"])

    # Back without subscribing again: a session kept has its subscription and its queue.
    kept, forgotten = session("kept"), session("forgotten")
    kept.subscriptions = forgotten.subscriptions = []
    tasks = [await connect(kept), await connect(forgotten)]
    try:
        assert kept.queue is not None
        assert forgotten.queue is not None
        got = await asyncio.wait_for(kept.get(), 10)
        assert got.topic == topic, "the session kept had the message queued"
        await asyncio.sleep(1.0)
        assert forgotten.queue.empty(), "the session ended had nothing queued"
    finally:
        for task in tasks:
            await leave(task)
