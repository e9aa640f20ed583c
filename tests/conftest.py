"""Fixtures that start the real parts (Mosquitto, InfluxDB) on free loopback ports."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hofsupport import Device, IngestProcess, Watcher, influx_query, wait_until

from hof.settings import Settings
from hof.stack import Stack

# A handler made during a test writes to that test's captured stderr, which pytest closes when
# the test ends; a thread still logging then (paho's network thread of a simulator, aiosmtpd's
# "connection lost") printed "--- Logging error ---" with a whole stack into the run's output.
# The line is lost either way; the noise hid the output that matters.
logging.raiseExceptions = False


def _settings_for(stack: Stack, state_dir: Path) -> Settings:
    return Settings(
        environment="test",
        state_dir=state_dir,
        log_format="console",
        # Other tests collect every stream from homes with no consent record (tests/rights
        # use the production default, environment only).
        rights={"unrecorded": ["environment", "activity", "telecare"]},
        **stack.info.settings(),
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One real Mosquitto + InfluxDB shared by the session; tests keep apart by home id."""
    state = tmp_path_factory.mktemp("stack")
    running = Stack(Settings(environment="test", state_dir=state))
    running.up()
    yield running
    running.down()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    """Settings that point a process at the session's stack, with the platform credential."""
    return _settings_for(stack, stack.settings.state_dir)


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[[], tuple[Stack, Settings]]]:
    """A private stack for a test that stops, kills or restarts a part (starts in ~0.3 s)."""
    made: list[Stack] = []

    def make() -> tuple[Stack, Settings]:
        state = tmp_path / f"stack{len(made)}"
        private = Stack(Settings(environment="test", state_dir=state))
        made.append(private)
        private.up()
        return private, _settings_for(private, state)

    yield make
    for private in made:
        private.down()


@pytest.fixture
def home_id() -> str:
    """A home id no other test uses, so tests sharing the broker and database stay apart."""
    return f"T-{uuid.uuid4().hex[:12]}"


# -- a real ingest worker, as a process ------------------------------------------------------


@pytest.fixture(scope="session")
def ingest_process(stack: Stack) -> Iterator[IngestProcess]:
    """The session's ingest worker (`hof ingest`) on the session stack, running throughout."""
    worker = IngestProcess(stack.settings.state_dir, "ingest-session")
    worker.start()
    yield worker
    if worker.proc is not None:
        worker.stop()


# -- devices and observers ----------------------------------------------------------------------


@pytest.fixture
def device(stack: Stack, home_id: str) -> Iterator[Callable[[str], Device]]:
    """Make devices of this test's home: `device("env-1")` is connected with its own credential."""
    made: list[Device] = []

    def make(device_id: str, home: str | None = None) -> Device:
        made.append(Device(stack, home or home_id, device_id))
        return made[-1]

    yield make
    for d in made:
        d.close()


@pytest.fixture
def watcher(settings: Settings) -> Iterator[Callable[[str], Watcher]]:
    made: list[Watcher] = []

    def make(topic_filter: str) -> Watcher:
        made.append(Watcher(settings, topic_filter))
        return made[-1]

    yield make
    for w in made:
        w.close()


@pytest.fixture(scope="session")
def query(settings: Settings) -> Callable[[str], list[dict[str, Any]]]:
    """`query("SELECT ...")` against the session's InfluxDB database."""
    return lambda q: influx_query(settings, q)


@pytest.fixture(scope="session")
def eventually() -> Callable[..., bool]:
    """`eventually(lambda: cond, timeout_s=15)`: poll an effect that crosses processes."""
    return wait_until
