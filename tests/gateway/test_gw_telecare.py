"""When the internet is down a fall, a help call, smoke or a leak still reaches someone: a local
hook and a webhook run, retried with backoff, and the device is told; bad input is dead-lettered
on the home broker with its reason."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from gw_support import *  # noqa: F403  (pytest fixtures, by name)
from gw_support import Home, until

from hof.stack import free_port

pytestmark = pytest.mark.e2e

SOUNDER = """\
import json, sys
alert = json.load(sys.stdin)
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(alert) + "\\n")
"""


class Webhook:
    """A real HTTP server on loopback that records what it is sent; it answers 503 to the
    first `failing` posts (each post's time is kept in `tries`)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received
        self.tries: list[float] = []
        self.failing = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                hook.tries.append(time.monotonic())
                if hook.failing > 0:
                    hook.failing -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                received.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alarm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def test_fall_without_internet_is_escalated_locally_and_the_pendant_told(
    home: Home, webhook: Webhook, tmp_path: Path
) -> None:
    script = tmp_path / "sounder.py"
    script.write_text(SOUNDER)
    rang = tmp_path / "sounder.log"
    home.platform.broker.stop()  # no internet from the start
    gateway = home.gateway(
        HOF_GATEWAY__ESCALATION_COMMAND=json.dumps([sys.executable, str(script), str(rang)]),
        HOF_GATEWAY__ESCALATION_WEBHOOK=webhook.url,
    )
    gateway.start()
    notices = home.recorder(f"hof/v1/{home.id}/+/notice", on_platform=False)
    pendant = home.device("pendant-1")
    at = round(time.time(), 3)
    pendant.publish("event", [{"bn": "pendant-1/", "bt": at, "n": "fall", "vs": "detected"}])

    assert until(lambda: bool(notices.on("notice")), 15), gateway.log_tail()
    topic, notice = notices.on("notice")[0]
    assert topic == f"hof/v1/{home.id}/pendant-1/notice"
    assert notice["alert"] == "fall"
    assert notice["state"] == "escalated-locally"
    assert sorted(notice["via"]) == ["command", "webhook"]
    sounded = json.loads(rang.read_text().splitlines()[0])
    assert (sounded["device"], sounded["alert"], sounded["time"]) == ("pendant-1", "fall", at)
    assert webhook.received[0]["alert"] == "fall"
    assert webhook.received[0]["home"] == home.id

    # A pendant press whose routes all fail says so: help has not been reached.
    webhook.close()
    script.write_text("import sys; sys.exit(3)\n")
    pendant.publish("event", [{"bn": "pendant-1/", "bt": at + 5, "n": "button", "vs": "pressed"}])
    assert until(lambda: len(notices.on("notice")) == 2, 30), gateway.log_tail()
    assert notices.on("notice")[1][1]["state"] == "escalation-failed"


def test_bad_input_is_dead_lettered_with_its_reason_and_counted(home: Home) -> None:
    gateway = home.gateway(HOF_MQTT__PORT=str(free_port()))  # no platform at all
    gateway.start()
    letters = home.recorder(f"hof/v1/{home.id}/+/deadletter", on_platform=False)
    sensor = home.device("env-1")
    sensor.publish("reading", [{"n": "humidity", "u": "%RH", "v": 180}])
    sensor.publish("reading", b"not json")
    sensor.publish("reading", [{"n": "temperature", "u": "Cel", "v": 19.5}])  # relative: good
    assert until(lambda: len(letters.on("deadletter")) == 2, 15), gateway.log_tail()
    reasons = [body["reason"] for _t, body in letters.on("deadletter")]
    assert reasons == ["out_of_range", "not_json"]
    first = letters.on("deadletter")[0][1]
    assert first["service"] == "gateway"
    assert "humidity 180" in first["detail"]
    assert gateway.by_label("hof_gateway_rejected_total", "reason") == {
        "out_of_range": 1.0,
        "not_json": 1.0,
    }
    assert until(lambda: gateway.gauge("hof_gateway_queue_depth") == 1.0, 10)


def test_fall_on_a_silently_dead_line_is_escalated_after_escalate_after_s(
    home: Home, webhook: Webhook
) -> None:
    gateway = home.gateway(
        HOF_GATEWAY__ESCALATION_WEBHOOK=webhook.url, HOF_GATEWAY__ESCALATE_AFTER_S="2"
    )
    gateway.start()
    assert until(lambda: gateway.gauge("hof_gateway_uplink_connected") == 1.0, 20)
    notices = home.recorder(f"hof/v1/{home.id}/+/notice", on_platform=False)
    pendant = home.device("pendant-1")
    at = round(time.time(), 3)

    # A healthy line: the platform acknowledges at once, nothing is escalated locally.
    pendant.publish("event", [{"bn": "pendant-1/", "bt": at, "n": "fall", "vs": "detected"}])
    assert until(lambda: gateway.metrics().get("hof_gateway_forwarded_records_total") == 1.0)
    time.sleep(2.5)
    assert (notices.on("notice"), webhook.received) == ([], [])

    # The line dies without a word: the gateway still believes it is up (keep-alive has not
    # noticed), but no PUBACK comes, so after escalate_after_s the fall goes the local way.
    home.internet.freeze()
    pendant.publish("event", [{"bn": "pendant-1/", "bt": at + 9, "n": "fall", "vs": "detected"}])
    sent = time.monotonic()
    assert until(lambda: bool(notices.on("notice")), 15), gateway.log_tail()
    assert 1.5 < time.monotonic() - sent < 8
    assert gateway.gauge("hof_gateway_uplink_connected") == 1.0
    assert notices.on("notice")[0][1]["state"] == "escalated-locally"
    assert webhook.received[0]["time"] == at + 9


def test_notices_and_configs_from_the_platform_reach_the_home(home: Home) -> None:
    gateway = home.gateway()
    gateway.start()
    assert until(lambda: gateway.gauge("hof_gateway_uplink_connected") == 1.0, 20)
    pendant_side = home.recorder(f"hof/v1/{home.id}/pendant-1/+", on_platform=False)
    platform = home.recorder(f"hof/v1/{home.id}/nobody/+")  # a platform-side client to publish
    notice = b'{"alert":"fall","state":"acknowledged"}'
    config = b'{"interval_s":60,"fall":{"enabled":true}}'
    for channel, payload, retain in (("notice", notice, False), ("config", config, True)):
        info = platform.client.publish(
            f"hof/v1/{home.id}/pendant-1/{channel}", payload, qos=1, retain=retain
        )
        info.wait_for_publish(5)
    assert until(lambda: len(pendant_side.messages) >= 2, 15), gateway.log_tail()
    got = {t.rsplit("/", 1)[1]: p for t, p, _r in pendant_side.messages}
    assert got == {"notice": notice, "config": config}
    # The config is retained on the home broker too: a pendant that wakes later still gets it.
    late = home.recorder(f"hof/v1/{home.id}/pendant-1/config", on_platform=False)
    assert until(lambda: bool(late.messages), 5)
    assert late.messages[0][1:] == (config, True)


def test_smoke_and_a_leak_without_internet_are_escalated_locally_too(
    home: Home, webhook: Webhook
) -> None:
    home.platform.broker.stop()
    gateway = home.gateway(HOF_GATEWAY__ESCALATION_WEBHOOK=webhook.url)
    gateway.start()
    notices = home.recorder(f"hof/v1/{home.id}/+/notice", on_platform=False)
    alarm, probe = home.device("smoke-1"), home.device("leak-1")
    at = round(time.time(), 3)
    probe.publish("event", [{"bn": "leak-1/", "bt": at, "n": "leak", "vb": False}])  # dry: no
    alarm.publish("event", [{"bn": "smoke-1/", "bt": at, "n": "smoke", "vb": True}])
    probe.publish("event", [{"bn": "leak-1/", "bt": at + 1, "n": "leak", "vb": True}])
    assert until(lambda: len(notices.on("notice")) == 2, 15), gateway.log_tail()
    by_device = {t.split("/")[3]: body for t, body in notices.on("notice")}
    assert by_device["smoke-1"]["state"] == "escalated-locally"
    assert by_device["leak-1"]["state"] == "escalated-locally"
    assert by_device["leak-1"]["text"]
    posted = sorted((b["alert"], b["device"], b["value"]) for b in webhook.received)
    assert posted == [("leak", "leak-1", True), ("smoke", "smoke-1", True)]
    time.sleep(1)
    assert len(webhook.received) == 2  # "dry again" is not an alarm


def test_a_failing_route_is_retried_with_backoff_and_the_retries_are_bounded(
    home: Home, webhook: Webhook
) -> None:
    home.platform.broker.stop()
    gateway = home.gateway(
        HOF_GATEWAY__ESCALATION_WEBHOOK=webhook.url,
        HOF_GATEWAY__ESCALATION_ATTEMPTS="3",
        HOF_GATEWAY__ESCALATION_BACKOFF_S="0.5",
    )
    gateway.start()
    notices = home.recorder(f"hof/v1/{home.id}/+/notice", on_platform=False)
    pendant = home.device("pendant-1")
    at = round(time.time(), 3)
    webhook.failing = 2  # the route's far end is busy twice, then takes it
    pendant.publish("event", [{"bn": "pendant-1/", "bt": at, "n": "fall", "vs": "detected"}])
    assert until(lambda: bool(notices.on("notice")), 20), gateway.log_tail()
    notice = notices.on("notice")[0][1]
    assert notice["state"] == "escalated-locally", notice  # one try would have failed
    assert (notice["state"], notice["via"], notice["attempts"]) == (
        "escalated-locally",
        ["webhook"],
        {"webhook": 3},
    )
    assert len(webhook.tries) == 3
    gaps = [b - a for a, b in itertools.pairwise(webhook.tries)]
    assert 0.35 < gaps[0] < gaps[1], gaps  # backing off: about 0.5 s, then about 1 s

    webhook.failing = 100  # never answers well: three tries, then the pendant is told
    webhook.tries.clear()
    pendant.publish("event", [{"bn": "pendant-1/", "bt": at + 5, "n": "button", "vs": "pressed"}])
    assert until(lambda: len(notices.on("notice")) == 2, 20), gateway.log_tail()
    failed = notices.on("notice")[1][1]
    assert (failed["state"], failed["attempts"]) == ("escalation-failed", {"webhook": 3})
    time.sleep(2)
    assert len(webhook.tries) == 3
