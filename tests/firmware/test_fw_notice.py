"""The pendant on MicroPython shows the platform's notices through its LED and buzzer, refuses
bad ones without harm, and answers a check with `checkin` instead of calling for help."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from typing import Any

from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import FIRMWARE, Firmware, Subscriber, events, until
from hypothesis import given
from hypothesis import strategies as st


def _shown(node: Firmware, prefix: str) -> list[str]:
    return [ln for ln in list(node.lines) if ln.startswith(prefix)]


def _notify(sub: Subscriber, node: Firmware, body: str | bytes, expect: str) -> None:
    """Publish a notice until the node shows `expect` (its subscription may still be on the
    way just after it connected: a notice is not retained)."""
    for _ in range(8):
        sub.client.publish(node.topic("notice"), body, qos=1).wait_for_publish(5)
        if until(lambda: bool(_shown(node, expect)), 1.5):
            return
    raise AssertionError(f"no {expect!r}:\n{node.output()}")


def test_notices_are_shown_and_bad_ones_refused_without_harm(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("telecare", motion_summary_s=3600)
    sub = subscriber(node.topic("#"))
    node.start()
    node.wait_line("link up")
    ack = {"alert": "A-1042", "state": "acknowledged", "text": "Help is on the way", "ts": 1}
    _notify(sub, node, json.dumps(ack), "notice acknowledged alert=A-1042")
    # a slow green pulse and two short beeps
    assert until(lambda: len(_shown(node, "buzzer hz=2000")) >= 2, 3), node.output()
    assert "led colour=1 hz=1" in node.lines
    assert until(lambda: node.lines[-1] == "buzzer hz=0" or len(_shown(node, "buzzer")) >= 4, 3)

    bad: list[bytes] = [
        b"not json",
        b"[1, 2, 3]",
        b'{"state": "dancing"}',
        b'{"state": 7}',
        b'{"state": "check", "alert": ' + json.dumps("x" * 100).encode() + b"}",
        b'{"state": "check", "pad": "' + b"y" * 520 + b'"}',  # over the notice cap
        b'{"state": "\xff\xfe"}',
        b"[" * 400,
        b'{"state": "check", "big": "' + b"z" * 5000 + b'"}',  # bigger than the MQTT buffer
    ]
    for body in bad:
        sub.client.publish(node.topic("notice"), body, qos=1).wait_for_publish(5)
    assert until(lambda: len(_shown(node, "notice refused")) >= 8, 10), node.output()
    reasons = {ln.split(" ", 2)[2] for ln in _shown(node, "notice refused")}
    assert {"not JSON", "not a JSON object", "unknown state"} <= reasons, reasons
    assert any(r.startswith("too large") for r in reasons), reasons
    assert not _shown(node, "notice check")  # none of them was shown
    # still alive and listening: help is over, the LED goes off
    _notify(sub, node, b'{"alert":"A-1042","state":"resolved"}', "notice resolved")
    assert until(lambda: "led colour=0 hz=0" in node.lines, 3), node.output()
    assert node.proc is not None
    assert node.proc.poll() is None
    assert not [ln for ln in node.lines if "Traceback" in ln]


def test_a_press_while_a_check_shows_answers_it_and_the_next_press_calls_for_help(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("telecare", motion_summary_s=3600)
    node.sim_path.write_text(json.dumps({"inputs": {"button": [[7.0, 7.4], [10.0, 10.4]]}}))
    sub = subscriber(node.topic("#"))
    node.start()
    node.wait_line("link up")
    check = {"alert": "A-7", "state": "check", "text": "Press the button if you are all right"}
    _notify(sub, node, json.dumps(check), "notice check alert=A-7")
    assert "led colour=2 hz=2" in node.lines  # amber blink, and a chime
    assert until(lambda: bool(_shown(node, "buzzer hz=2000")), 3), node.output()
    assert not events(sub), "nothing is sent before the tenant presses"
    assert until(lambda: len(events(sub)) >= 2, 15), node.output()
    got = [(r.name, r.value) for r in events(sub)]
    assert got == [("checkin", True), ("button", "pressed")], node.output()
    assert _shown(node, "notice answered alert=A-7")
    time.sleep(0.5)
    assert len(events(sub)) == 2


def _notice_module() -> Any:
    spec = importlib.util.spec_from_file_location("fw_notice", FIRMWARE / "lib" / "notice.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOTICE = _notice_module()


@given(
    st.one_of(
        st.binary(max_size=700),
        st.recursive(st.none(), st.lists, max_leaves=50).map(
            lambda v: json.dumps({"state": "check", "alert": v}).encode()
        ),
    )
)
def test_any_payload_is_a_notice_or_a_reason(raw: bytes) -> None:
    outcome: tuple[str, str] | str
    try:
        outcome = NOTICE.parse(raw)
    except NOTICE.NoticeError as exc:
        outcome = str(exc)
    if isinstance(outcome, str):
        assert outcome  # a reason to log
    else:
        assert outcome[0] in NOTICE.STATES
        assert isinstance(outcome[1], str)


def test_the_pendant_answering_a_check_ends_the_inactivity_alert(
    stack: Any,
    settings: Any,
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
    home_id: str,
    tmp_path: Any,
) -> None:
    """The whole tenant's side: no movement for two hours raises inactivity in the rules
    engine; the platform asks the pendant (`check`); the tenant presses; the alert ends."""
    from hofsupport import AlertsProcess, Device

    from hof.alertstore.api import AlertStore
    from hof.alertstore.records import AlertFilter
    from hof.alertstore.vocabulary import Category, Outcome, State

    th = tmp_path / "thresholds.json"
    th.write_text(json.dumps({"inactivity_hours": 1.0, "inactivity_by_hour": None}))
    url = f"sqlite:///{tmp_path / 'alerts.sqlite'}"
    rules = AlertsProcess(
        stack.settings.state_dir,
        "alerts-fw-check",
        HOF_ALERTS__THRESHOLDS_FILE=str(th),
        HOF_ALERTSTORE__URL=url,
        HOF_ALERTS__SHARE_GROUP="alerts-fw-check",
        HOF_ALERTS__SESSION_EXPIRY_S="0",
    )
    rules.start()
    store = AlertStore.from_settings(
        settings.model_copy(
            update={"alertstore": settings.alertstore.model_copy(update={"url": url})}
        )
    )
    pir = Device(stack, home_id, "pir-hall")
    try:
        now = round(time.time(), 3)
        pir.publish("reading", [{"bn": "pir-hall/", "bt": now - 7200, "n": "motion", "vb": True}])
        pir.publish("reading", [{"bn": "pir-hall/", "bt": now, "n": "motion", "vb": False}])

        def inactivity() -> list[Any]:
            where = AlertFilter(homes=[home_id], categories=(Category.INACTIVITY,))
            return list(store.list(where).items)

        assert until(lambda: bool(inactivity()), 10), rules.log_tail()
        node = firmware("telecare", motion_summary_s=3600)
        node.sim_path.write_text(json.dumps({"inputs": {"button": [[6.0, 6.4]]}}))
        sub = subscriber(node.topic("#"))
        node.start()
        node.wait_line("link up")
        check = {"alert": "inactivity", "state": "check", "text": "Press if you are all right"}
        _notify(sub, node, json.dumps(check), "notice check")
        assert until(lambda: inactivity()[0].state is State.RESOLVED, 20), (
            node.output() + "\n" + rules.log_tail()
        )
        assert inactivity()[0].outcome is Outcome.WITHDRAWN
        assert [(r.name, r.value) for r in events(sub)] == [("checkin", True)]
    finally:
        pir.close()
        store.close()
        rules.stop()
