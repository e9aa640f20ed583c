"""`hof status` tells an operator what is flowing, from the worker's metrics and InfluxDB."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import pytest
from hofsupport import hof_cli

from hof.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ingest_process")]


def _status(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return hof_cli({**os.environ, "HOF_STATE_DIR": str(stack.settings.state_dir)}, "status", *args)


def test_status_counts_what_arrived(
    stack: Stack, device: Any, home_id: str, eventually: Any, ingest_process: Any
) -> None:
    before = json.loads(_status(stack, "--json").stdout)
    (worker,) = [s for s in before["services"] if s["instance"] == "ingest-session"]
    env = device("env-1")
    now = time.time()
    env.publish(
        "reading",
        [
            {"bn": "env-1/", "bt": now - 10, "n": "temperature", "v": 20.5},
            {"n": "humidity", "v": 50.0},
        ],
    )
    env.publish("reading", b"garbage")
    assert eventually(
        lambda: (
            ingest_process.metrics().get("hof_ingest_messages_total", 0) >= worker["messages"] + 2
        )
    )
    time.sleep(0.5)
    after = json.loads(_status(stack, "--json").stdout)
    (worker2,) = [s for s in after["services"] if s["instance"] == "ingest-session"]
    assert worker2["messages"] - worker["messages"] >= 2
    assert worker2["records"] - worker["records"] >= 2
    assert worker2["rejected_by_reason"].get("not_json", 0) >= 1
    assert worker2["connected"] is True
    # The estate-wide count also moves with other tests' erasures and the window's edge; this
    # home's own count moves only with what this test published.
    mine_before = before["influx"].get("readings_by_home", {}).get(home_id, 0)
    assert after["influx"]["readings_by_home"][home_id] - mine_before >= 2
    assert after["influx"]["homes"] >= 1

    text = _status(stack, "--watch", "0.5", "--count", "2")
    assert text.returncode == 0
    assert "messages in" in text.stdout
    assert "/s" in text.stdout  # the second look shows rates
    assert "rejected" in text.stdout


def test_status_says_when_nothing_runs(tmp_path: Any) -> None:
    env = {**os.environ, "HOF_STATE_DIR": str(tmp_path), "HOF_INFLUX__URL": "http://127.0.0.1:9"}
    result = hof_cli(env, "status")
    assert result.returncode == 1
    assert "no ingest worker is registered" in result.stdout
    assert "cannot query it" in result.stdout
