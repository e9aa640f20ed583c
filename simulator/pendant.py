"""The simulated pendants: each shows the notices sent to its device, as the firmware's LED and
buzzer would (recorded and logged), and answers a `check` most of the time with `checkin`."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass

import structlog

from hof.errors import ContractError
from hof.topic import Channel, Topic

__all__ = ["SHOWS", "Pendants", "Shown"]

log = structlog.get_logger(__name__)

MAX_NOTICE_BYTES = 512  # as the firmware (firmware/lib/notice.py): larger is refused
# What the firmware shows for each state (firmware/lib/notice.py, docs/firmware.md).
SHOWS = {
    "raised": "amber, one beep",
    "acknowledged": "slow green pulse, two short beeps",
    "escalated": "slow amber pulse, one beep",
    "check": "amber blink, a chime every 15 s",
    "escalated-locally": "green blink, two short beeps",
    "escalation-failed": "red, three long beeps",
    "queued": "slow amber pulse",
    "resolved": "off",
}


@dataclass(frozen=True, slots=True)
class Shown:
    """One notice a pendant showed."""

    home: str
    device: str
    state: str
    alert: str
    shows: str
    at: float


class Pendants:
    """The pendants of the simulated homes. `on_notice` runs on the MQTT client's thread and
    never blocks: answers wait in `take_answers` for the publishing loop to send."""

    def __init__(
        self, homes: set[str], seed: int, *, answer_probability: float = 0.7, keep: int = 1000
    ) -> None:
        self.homes = homes
        self.answer_probability = answer_probability
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.shown: deque[Shown] = deque(maxlen=keep)
        self.refused = 0
        self._answers: deque[tuple[str, bytes]] = deque(maxlen=keep)

    def on_notice(self, topic: str, payload: bytes) -> None:
        try:
            where = Topic.parse(topic)
        except ContractError:
            return
        if where.channel is not Channel.NOTICE or where.home not in self.homes:
            return
        body = _notice(payload)
        if body is None:
            with self._lock:
                self.refused += 1
            log.warning("pendant_refused_notice", home=where.home, device=where.device)
            return
        state, alert = body
        now = time.time()
        shown = Shown(where.home, where.device, state, alert, SHOWS[state], now)
        answer = state == "check" and self._rng.random() < self.answer_probability
        with self._lock:
            self.shown.append(shown)
            if answer:
                pack = [{"bn": f"{where.device}/", "bt": round(now, 3), "n": "checkin", "vb": True}]
                event = str(Topic(where.home, where.device, Channel.EVENT))
                self._answers.append((event, json.dumps(pack, separators=(",", ":")).encode()))
        log.info(
            "pendant_shows",
            home=where.home,
            device=where.device,
            state=state,
            alert=alert,
            shows=shown.shows,
            answers=answer,
        )

    def take_answers(self) -> list[tuple[str, bytes]]:
        """The tenants' answers to checks, to publish (each once)."""
        with self._lock:
            out = list(self._answers)
            self._answers.clear()
        return out


def _notice(payload: bytes) -> tuple[str, str] | None:
    """(state, alert) of a notice the firmware would show; None for one it would refuse."""
    if len(payload) > MAX_NOTICE_BYTES:
        return None
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    state, alert = body.get("state"), body.get("alert", "")
    if not isinstance(state, str) or state not in SHOWS or not isinstance(alert, str):
        return None
    return state, alert[:64]
