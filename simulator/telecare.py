"""The telecare scenario: falls (some cancelled), help presses, leaks and a missed morning
routine in a few telecare homes, at seeded random times during the live run.

A handful of the estate's telecare homes (those of the North patch first, the demo
responder's) get a pendant and a leak probe besides their movement sensor. While the
simulation runs in real time, events arrive as a Poisson process, about three per 10 minutes
for 100 homes: a fall (a third of them cancelled by the wearer within the rules' confirm
window), a pendant press, or a leak that dries out a few minutes later. The first event is
always a fall, 20-60 s into the run, so whoever watches a demo sees the loop close early.

The missed routine is one home (`routine_home`) whose movement stops for a spell every hour;
its movement sensor otherwise sees someone at every sample, so the inactivity rule, given a
short span for that home (`demo_overrides`, a thresholds override the demo hands the rules
engine), raises on the spell and on nothing else.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hof.climate import wall_class
from hof.topic import Channel, Topic
from simulator.addresses import registry_rows
from simulator.estate import Estate

__all__ = [
    "CANCEL_WITHIN_S",
    "ROUTINE_INACTIVITY_H",
    "Scenario",
    "TelecareHome",
    "demo_overrides",
    "routine_home",
    "telecare_homes",
]

SCENARIO_HOMES = 4
EVENTS_PER_10_MIN_PER_100_HOMES = 3.0
CANCEL_SHARE = 1 / 3
CANCEL_WITHIN_S = (10.0, 60.0)  # the rules withdraw a fall cancelled within 120 s
LEAK_DRY_AFTER_S = (120.0, 300.0)
KINDS = ("fall", "button", "leak")
KIND_WEIGHTS = (4.0, 3.0, 2.0)
# The routine home: still for this long, once an hour, starting 30-120 s into the live run.
ROUTINE_SILENT_S = 15 * 60.0
ROUTINE_EVERY_S = 3600.0
ROUTINE_FIRST_S = (30.0, 120.0)
FIRST_FALL_S = (20.0, 60.0)  # the first event, a fall, this long into the live run
# Its inactivity span in the demo: 6 minutes instead of 12 hours (alerts/thresholds.py).
ROUTINE_INACTIVITY_H = 0.1
PENDANT_DAY_S = 86_400.0  # a pendant and a leak probe say they report once a day


@dataclass(frozen=True, slots=True)
class TelecareHome:
    """A home in the scenario: its movement sensor, and the pendant and leak probe it adds."""

    id: str
    motion: str
    pendant: str
    leak: str


def _device_id(estate: Estate, home: str, kind: str) -> str:
    digest = hashlib.blake2b(f"{estate.seed}/{home}/{kind}".encode(), digest_size=3).hexdigest()
    return f"{kind}-{digest}"


def telecare_homes(estate: Estate, count: int = SCENARIO_HOMES) -> list[TelecareHome]:
    """The scenario's homes: telecare homes of the North patch first, then the others."""
    patches = {row.id: row.patch for row in registry_rows(estate)}
    candidates = [
        (patches.get(home.id) != "North", home.index, home)
        for home in estate.homes
        if any(device.telecare for device in home.devices)
    ]
    candidates.sort(key=lambda c: (c[0], c[1]))
    out = []
    for _, _, home in candidates[:count]:
        motion = next(device.id for device in home.devices if device.telecare)
        pendant, leak = (_device_id(estate, home.id, kind) for kind in ("pendant", "leak"))
        out.append(TelecareHome(home.id, motion, pendant, leak))
    return out


def routine_home(estate: Estate) -> TelecareHome | None:
    """The home whose morning routine is missed, or None when the estate has no telecare."""
    homes = telecare_homes(estate, 1)
    return homes[0] if homes else None


def demo_overrides(estate: Estate) -> str:
    """A thresholds overrides file (alerts/overrides.py): each home's wall class, as a
    landlord's stock record gives it, and a short span for the routine home."""
    routine = routine_home(estate)
    lines = [
        "# Written by `hof demo`: each home's walls as a stock record gives them (the class",
        "# nearest the simulated wall's fRsi), and the simulated missed routine",
        "# (simulator/telecare.py) seen after minutes, not the 12 hours a real home is given.",
    ]
    for home in estate.homes:
        lines += ["", f'[homes."{home.id}"]']
        lines.append(f'walls = "{wall_class(float(estate.dwellings.f_rsi[home.index]))}"')
        if routine is not None and home.id == routine.id:
            lines.append(f"inactivity_hours = {ROUTINE_INACTIVITY_H}")
    return "\n".join(lines) + "\n"


def _pack(device: str, at: float, name: str, value: Any) -> bytes:
    key = "vb" if isinstance(value, bool) else "vs"
    record = {"bn": f"{device}/", "bt": round(at, 3), "n": name, key: value}
    return json.dumps([record], separators=(",", ":")).encode()


@dataclass(order=True, slots=True)
class _Planned:
    at: float
    order: int
    topic: str = field(compare=False)
    payload: bytes = field(compare=False)
    what: str = field(compare=False)


class Scenario:
    """The telecare events of a live run that starts at `start` (epoch seconds)."""

    def __init__(
        self,
        estate: Estate,
        seed: int,
        start: float,
        *,
        per_10_min: float | None = None,
    ) -> None:
        self.homes = telecare_homes(estate)
        self.routine = self.homes[0] if self.homes else None
        rate = per_10_min
        if rate is None:
            rate = max(1.0, EVENTS_PER_10_MIN_PER_100_HOMES * len(estate.homes) / 100)
        self.rate_per_s = rate / 600.0
        self._rng = random.Random(f"telecare/{seed}")
        self._queue: list[_Planned] = []
        self._order = 0
        self._next_draw = start + self._rng.uniform(*FIRST_FALL_S)
        self._first = True
        self.silent_from = start + self._rng.uniform(*ROUTINE_FIRST_S)
        self.counts: Counter[str] = Counter()
        if self.routine is not None:
            self._routine_topic = str(Topic(self.routine.id, self.routine.motion, Channel.READING))

    def _gap(self) -> float:
        return self._rng.expovariate(self.rate_per_s)

    def _plan(self, at: float, home: str, device: str, name: str, value: Any, what: str) -> None:
        topic = str(Topic(home, device, Channel.EVENT))
        self._order += 1
        heapq.heappush(
            self._queue, _Planned(at, self._order, topic, _pack(device, at, name, value), what)
        )

    def _draw(self, at: float) -> None:
        home = self._rng.choice(self.homes)
        first, self._first = self._first, False
        kind = "fall" if first else self._rng.choices(KINDS, KIND_WEIGHTS)[0]
        if kind == "fall":
            self._plan(at, home.id, home.pendant, "fall", "detected", "fall")
            # The first fall stands, so a demo's first call-out is a real one.
            if not first and self._rng.random() < CANCEL_SHARE:
                later = at + self._rng.uniform(*CANCEL_WITHIN_S)
                self._plan(later, home.id, home.pendant, "fall", "cancelled", "fall_cancelled")
        elif kind == "button":
            self._plan(at, home.id, home.pendant, "button", "pressed", "button")
        else:
            self._plan(at, home.id, home.leak, "leak", True, "leak")
            later = at + self._rng.uniform(*LEAK_DRY_AFTER_S)
            self._plan(later, home.id, home.leak, "leak", False, "leak_dry")

    def due(self, now: float) -> list[tuple[str, bytes, str]]:
        """(topic, payload, what) of every event whose time has come, each once, in order."""
        if not self.homes:
            return []
        while self._next_draw <= now:
            self._draw(self._next_draw)
            self._next_draw += self._gap()
        out = []
        while self._queue and self._queue[0].at <= now:
            planned = heapq.heappop(self._queue)
            self.counts[planned.what] += 1
            out.append((planned.topic, planned.payload, planned.what))
        return out

    def retained(self, at: float, *, online: bool = True) -> list[tuple[str, bytes]]:
        """The added devices' retained config and status (a daily interval, so a pendant that
        only speaks when pressed is not taken for offline); offline when the run stops."""
        out = []
        for home in self.homes:
            for device, room in ((home.pendant, "hallway"), (home.leak, "kitchen")):
                status: dict[str, Any] = {"state": "offline"}
                if online:
                    config = {"interval_s": PENDANT_DAY_S, "rooms": {device: room}}
                    out.append((str(Topic(home.id, device, Channel.CONFIG)), _json(config)))
                    status = {
                        "state": "online",
                        "fw": "sim-0.1.0",
                        "battery": 90,
                        "interval_s": PENDANT_DAY_S,
                        "ts": math.floor(at),
                    }
                out.append((str(Topic(home.id, device, Channel.STATUS)), _json(status)))
        return out

    def still(self, t: float) -> bool:
        """Whether the routine home is still (nobody moving) at `t`."""
        since = t - self.silent_from
        return since >= 0 and since % ROUTINE_EVERY_S < ROUTINE_SILENT_S

    def adjust(self, topic: str, payload: bytes) -> bytes:
        """The routine home's movement: seen at every sample, except in its still spells."""
        if self.routine is None or topic != self._routine_topic:
            return payload
        records = json.loads(payload)
        base = 0.0
        for record in records:
            base = float(record.get("bt", base))
            if record.get("n") == "motion":
                record["vb"] = not self.still(base + float(record.get("t", 0.0)))
        return json.dumps(records, separators=(",", ":")).encode()


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
