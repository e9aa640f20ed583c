"""A device on the home broker cannot crash its gateway with what it sends on status."""

from __future__ import annotations

import time

import pytest
from gw_support import *  # noqa: F403  (pytest fixtures, by name)
from gw_support import Home, count_stored, until

pytestmark = pytest.mark.e2e

NESTED = b"[" * 3000 + b"]" * 3000  # 6 KB: past json's recursion limit


def test_a_deeply_nested_status_is_refused_and_the_gateway_carries_on(home: Home) -> None:
    home.ingest()
    gateway = home.gateway()
    gateway.start()
    sensor = home.device("env-1")
    deadletters = home.recorder(f"hof/v1/{home.id}/env-1/deadletter", on_platform=False)

    sensor.publish("status", NESTED, retain=True)
    assert until(lambda: bool(deadletters.messages), 15), gateway.log_tail()
    assert b"too_deep" in deadletters.messages[-1][1]

    sensor.publish(
        "reading",
        [{"bn": "env-1/", "bt": time.time(), "n": "temperature", "u": "Cel", "v": 20.5}],
    )
    assert until(lambda: count_stored(home.platform_settings, home.id) == 1, 20)
    assert gateway.proc is not None
    assert gateway.proc.poll() is None, gateway.log_tail()
