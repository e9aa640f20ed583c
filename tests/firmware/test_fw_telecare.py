"""A telecare node on MicroPython: a scripted fall gives one `fall` event after the cancel
window; a press inside the window gives `cancelled` instead; the button, leak and door go out
at once on `event`, QoS 1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import Firmware, Subscriber, events, fall_trace, until

from hof.senml import Record, parse_pack
from hof.settings import Settings
from hof.stack import Stack
from hof.topic import Topic


def test_a_fall_gives_exactly_one_event_and_inputs_go_out_at_once(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("telecare", cancel_s=2, motion_summary_s=2)
    detect_at = fall_trace(node.workdir)
    node.sim_path.write_text(
        json.dumps(
            {
                "adxl345": {"trace": str(node.workdir / "trace.bin")},
                "inputs": {
                    "button": [[1.0, 1.3]],
                    "leak": [[1.5, 600]],
                    "door": [[2.0, 2.5]],
                    "pir": [[0.5, 0.9], [1.2, 1.4]],
                },
            }
        )
    )
    sub = subscriber(node.topic("#"))
    node.start()
    node.wait_line("fall suspected", timeout_s=detect_at + 15)
    assert until(lambda: any(r.name == "fall" for r in events(sub)), 10), node.output()
    time.sleep(3)  # long enough for a second event, were there one
    falls = [r for r in events(sub) if r.name == "fall"]
    assert [r.value for r in falls] == ["detected"], node.output()
    by_name = {(r.name, r.value) for r in events(sub)}
    assert ("button", "pressed") in by_name
    assert ("leak", True) in by_name
    assert ("contact", True) in by_name
    assert ("contact", False) in by_name
    status = json.loads(sub.on("/status")[-1][1])
    assert status["sensors"] == {"accel": "ok"}
    # PIR motion is summarised, one record per window on `reading`, never a raw stream
    motion: list[Record] = []
    for topic, payload, _ in sub.on("/reading"):
        motion += parse_pack(Topic.parse(topic), payload, received_at=time.time())
    assert [r.value for r in motion][:2] == [True, False]
    assert {r.name for r in motion} == {"motion"}


def test_a_press_in_the_cancel_window_reports_cancelled(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("telecare", cancel_s=8)
    detect_at = fall_trace(node.workdir, "sideways", seed=11)
    press = detect_at + 3  # well inside the window, whatever the boot took
    node.sim_path.write_text(
        json.dumps(
            {
                "mpu6050": {"trace": str(node.workdir / "trace.bin")},
                "inputs": {"button": [[press, press + 0.4]]},
            }
        )
    )
    sub = subscriber(node.topic("#"))
    node.start()
    assert until(lambda: any(r.name == "fall" for r in events(sub)), detect_at + 15), node.output()
    time.sleep(1)
    seen = [(r.name, r.value) for r in events(sub)]
    assert seen == [("fall", "cancelled")], node.output()


def test_the_retained_config_reaches_the_detector(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    """Fall detection turned off from the platform: the same fall gives no event; the button
    still does. The setting is kept in flash for the next boot."""
    node = firmware("telecare", cancel_s=1)
    detect_at = fall_trace(node.workdir)
    node.sim_path.write_text(
        json.dumps(
            {
                "adxl345": {"trace": str(node.workdir / "trace.bin")},
                "inputs": {"button": [[detect_at + 2, detect_at + 2.3]]},
            }
        )
    )
    sub = subscriber(node.topic("#"))
    sub.publish(node.topic("config"), json.dumps({"fall": {"enabled": False}}), retain=True)
    node.start()
    assert until(lambda: any(r.name == "button" for r in events(sub)), detect_at + 15), (
        node.output()
    )
    time.sleep(1.5)
    assert [(r.name, r.value) for r in events(sub)] == [("button", "pressed")], node.output()
    assert json.loads((node.workdir / "remote.json").read_text()) == {"fall": {"enabled": False}}
    status = json.loads(sub.on("/status")[-1][1])
    assert status["config"] == "applied"


def test_a_fall_during_a_broker_outage_is_sent_once_when_it_returns(
    make_stack: Callable[[], tuple[Stack, Settings]],
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
) -> None:
    private, settings = make_stack()
    node = firmware("telecare", settings_=settings, cancel_s=1, keepalive_s=4, report_every=100)
    detect_at = fall_trace(node.workdir, "backward", seed=5)
    node.sim_path.write_text(json.dumps({"adxl345": {"trace": str(node.workdir / "trace.bin")}}))
    sub = subscriber(node.topic("event"), settings, client_id="fw-tc-outage-watch")
    node.start()
    node.wait_line("link up")
    private.broker.stop()
    node.wait_line("event fall", timeout_s=detect_at + 15)  # detected and queued, offline
    queued_at = time.time()
    time.sleep(1)
    private.broker.start()
    assert until(lambda: bool(events(sub)), 30), node.output()
    time.sleep(2)
    got = events(sub)
    assert [(r.name, r.value) for r in got] == [("fall", "detected")], node.output()
    assert got[0].time <= queued_at + 0.5  # stamped when it happened, not when sent
    # the 50 Hz loop never fell behind while the link was down and reconnecting
    steady = [ln for ln in node.lines if ln.startswith("steady")]
    assert steady
    assert all("overruns=0" in ln for ln in steady), steady
