"""The simulated pendants show the platform's notices and answer a check with `checkin`,
through the real broker while `hof simulate` runs."""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from hof.senml import parse_pack
from hof.settings import Settings
from hof.topic import Topic
from simulator.cli import add_arguments, run
from simulator.estate import Estate
from simulator.pendant import Pendants

pytestmark = pytest.mark.e2e


def test_a_pendant_refuses_what_the_firmware_would_refuse() -> None:
    pendants = Pendants({"H-1"}, seed=1, answer_probability=1.0)
    for payload in (
        b"not json",
        b"[]",
        b'{"state":"dancing"}',
        b'{"state":"check","x":"' + b"y" * 600 + b'"}',
    ):
        pendants.on_notice("hof/v1/H-1/tc-1/notice", payload)
    pendants.on_notice("hof/v1/OTHER/tc-1/notice", b'{"state":"check"}')  # not our estate
    assert (pendants.refused, list(pendants.shown), pendants.take_answers()) == (4, [], [])
    pendants.on_notice("hof/v1/H-1/tc-1/notice", b'{"alert":"A-1","state":"check"}')
    (answer,) = pendants.take_answers()
    assert answer[0] == "hof/v1/H-1/tc-1/event"
    assert pendants.take_answers() == []  # each answer once


def test_the_simulated_pendant_shows_notices_and_answers_a_check(
    settings: Settings, watcher: Callable[[str], Any]
) -> None:
    prefix = f"P{uuid.uuid4().hex[:8]}"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    # seed 1: the first draw answers (random.Random(1).random() is 0.13, under 0.7)
    args = parser.parse_args(
        ["--homes", "2", "--seed", "1", "--id-prefix", prefix, "--duration", "8s"]
    )
    estate = Estate(2, seed=1, id_prefix=prefix)
    home = estate.homes[0]
    device = home.devices[0].id
    events = watcher(f"hof/v1/{home.id}/+/event")
    platform = watcher("hof/v1/nobody/none/none")  # a platform client, to publish notices
    result: list[int] = []
    with capture_logs() as logs:
        worker = threading.Thread(target=lambda: result.append(run(args, settings)))
        worker.start()
        try:
            deadline = time.monotonic() + 6
            while not any(e["event"] == "simulate_warming_up" for e in logs):
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.05)
            topic = f"hof/v1/{home.id}/{device}/notice"
            for state in ("acknowledged", "check"):
                body = json.dumps({"alert": "A-9", "state": state, "text": "..."})
                platform.client.publish(topic, body, qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 6
            while not events.messages and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            worker.join(30)
    assert result == [0]
    shown = [(e["state"], e["shows"]) for e in logs if e["event"] == "pendant_shows"]
    assert shown == [
        ("acknowledged", "slow green pulse, two short beeps"),
        ("check", "amber blink, a chime every 15 s"),
    ]
    (event_topic, payload) = events.messages[0]
    (record,) = parse_pack(Topic.parse(event_topic), payload, received_at=time.time())
    assert (record.device, record.name, record.value) == (device, "checkin", True)
