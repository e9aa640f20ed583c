"""The simulated estate: homes, their devices and ids, and the SenML packs their sensors send."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hof.topic import Channel, Topic, is_valid_id
from simulator.dwelling import (
    ROOMS,
    Archetype,
    Conditions,
    Simulation,
    draw_dwellings,
)
from simulator.weather import Weather

__all__ = [
    "FIRMWARE",
    "MAX_PACK_BYTES",
    "MAX_PACK_RECORDS",
    "WARMUP_S",
    "Device",
    "Estate",
    "Home",
    "Pack",
    "Run",
]

FIRMWARE = "sim-0.1.0"
MAX_PACK_RECORDS = 500
MAX_PACK_BYTES = 16 * 1024
# Battery phases are measured from here, so a device's charge at an instant does not depend on
# when a simulation started.
_BATTERY_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00Z
# A week of physics before the first sample: the slowest thermal time constants are about a day,
# so after a week a home's state no longer remembers where the run began, and two runs that
# started at different times publish (all but a few rounding edges of) the same records.
WARMUP_S = 7 * 86_400.0
_CO2_ROOMS = frozenset({"living_room", "bedroom"})
TELECARE_ROOM = "hallway"
# CONTRACT.md: a device mapped to room `outdoor` is the estate's (or its home's) outdoor
# temperature. The estate has one, on its first home, so that the rules estimate wall surfaces
# from the real weather rather than guess (alerts/outdoor.py).
OUTDOOR_ROOM = "outdoor"
OUTDOOR_INDEX = -2


@dataclass(frozen=True, slots=True)
class Device:
    """One sensor: an environmental sensor in a room, or a telecare activity (PIR) sensor."""

    id: str
    room: str
    telecare: bool
    room_index: int  # index into ROOMS; -1 for the telecare sensor
    rssi_dbw: float  # its typical signal
    battery_life_days: float
    battery_installed_at: float
    temperature_offset: float  # calibration error, K
    humidity_offset: float  # calibration error, %RH

    @property
    def names(self) -> tuple[str, ...]:
        """What it measures every interval (battery and rssi come hourly besides)."""
        if self.telecare:
            return ("motion",)
        if self.room == OUTDOOR_ROOM:
            return ("temperature", "humidity")
        if self.room in _CO2_ROOMS:
            return ("temperature", "humidity", "co2")
        return ("temperature", "humidity")

    def battery(self, at: float) -> int:
        """Charge left (%): drains linearly over its life, then a fresh battery goes in."""
        used = ((at - self.battery_installed_at) / 86_400.0 / self.battery_life_days) % 1.0
        return max(1, min(100, round(100.0 * (1.0 - used))))


@dataclass(frozen=True, slots=True)
class Home:
    """One simulated home."""

    id: str
    index: int
    archetype: Archetype
    occupants: int
    devices: tuple[Device, ...]


@dataclass(frozen=True, slots=True)
class Pack:
    """One SenML pack ready to publish: its topic, payload, record count and first time."""

    topic: str
    payload: bytes
    records: int
    time: float


def _hex_id(seed: int, prefix: str, home: int, what: str, taken: set[str], kind: str) -> str:
    attempt = 0
    while True:
        digest = hashlib.blake2b(
            f"{seed}/{prefix}/{home}/{what}/{attempt}".encode(), digest_size=3
        ).hexdigest()
        device = f"{kind}-{digest}"
        if device not in taken:
            taken.add(device)
            return device
        attempt += 1


class Estate:
    """N homes drawn deterministically from a seed: same seed and prefix, same estate.

    `packs(start, end, interval_s)` is the pure generator for tests and benchmarks; `run()`
    gives a simulation that can be continued, for the publisher's backfill and real time.
    """

    def __init__(
        self,
        homes: int,
        seed: int = 1,
        *,
        id_prefix: str = "SIM",
        mix: dict[Archetype, float] | None = None,
    ) -> None:
        if homes < 1:
            raise ValueError("an estate needs at least one home")
        if seed < 0:
            raise ValueError("the seed must be zero or more")
        if not is_valid_id(f"{id_prefix}-{homes:06d}"):
            raise ValueError(f"id prefix {id_prefix!r} does not make valid home ids")
        self.seed = seed
        self.id_prefix = id_prefix
        self.dwellings = draw_dwellings(homes, seed, mix)
        self.weather = Weather(seed)
        rng = np.random.default_rng([seed, 0xDE71])
        taken: set[str] = set()
        built: list[Home] = []
        for i in range(homes):
            devices: list[Device] = []
            places = [(r, room, False) for r, room in enumerate(ROOMS)]
            if self.dwellings.telecare[i]:
                places.append((-1, TELECARE_ROOM, True))
            for r, room, telecare in places:
                life = float(rng.uniform(400.0, 1100.0))
                devices.append(
                    Device(
                        id=_hex_id(seed, id_prefix, i, room, taken, "tc" if telecare else "env"),
                        room=room,
                        telecare=telecare,
                        room_index=r,
                        rssi_dbw=float(rng.uniform(-102.0, -80.0)),
                        battery_life_days=life,
                        battery_installed_at=_BATTERY_EPOCH - rng.uniform(0.0, life) * 86_400.0,
                        temperature_offset=float(rng.normal(0.0, 0.15)),
                        humidity_offset=float(rng.normal(0.0, 1.0)),
                    )
                )
            built.append(
                Home(
                    id=f"{id_prefix}-{i + 1:06d}",
                    index=i,
                    archetype=Archetype(int(self.dwellings.archetype[i])),
                    occupants=int(self.dwellings.occupants[i]),
                    devices=tuple(devices),
                )
            )
        # Drawn after every home's devices, from a generator of its own: adding it changed no
        # other device's id or figures.
        out_rng = np.random.default_rng([seed, 0x0D7D])
        first = built[0]
        outdoor = Device(
            id=_hex_id(seed, id_prefix, 0, OUTDOOR_ROOM, taken, "env"),
            room=OUTDOOR_ROOM,
            telecare=False,
            room_index=OUTDOOR_INDEX,
            rssi_dbw=float(out_rng.uniform(-102.0, -80.0)),
            battery_life_days=1100.0,
            battery_installed_at=_BATTERY_EPOCH - out_rng.uniform(0.0, 1100.0) * 86_400.0,
            temperature_offset=float(out_rng.normal(0.0, 0.15)),
            humidity_offset=float(out_rng.normal(0.0, 1.0)),
        )
        built[0] = Home(
            first.id, first.index, first.archetype, first.occupants, (*first.devices, outdoor)
        )
        self.homes: tuple[Home, ...] = tuple(built)

    @property
    def devices(self) -> int:
        return sum(len(home.devices) for home in self.homes)

    def run(self, start: float, interval_s: float, *, warmup_s: float = WARMUP_S) -> Run:
        """A simulation whose first sample is the first multiple of `interval_s` at or after
        `start`; the physics starts `warmup_s` earlier so that the first sample is settled."""
        return Run(self, start, interval_s, warmup_s)

    def packs(
        self,
        start: float,
        end: float,
        interval_s: float = 300.0,
        *,
        intervals_per_pack: int = 1,
    ) -> Iterator[tuple[str, bytes]]:
        """Every pack from `start` to `end` (inclusive), in time order: (topic, payload)."""
        for pack in self.run(start, interval_s).packs_until(end, intervals_per_pack):
            yield pack.topic, pack.payload

    def configs(self, interval_s: float) -> list[tuple[str, bytes]]:
        """The retained `config` of every device: its interval and its room."""
        out = []
        for home in self.homes:
            for device in home.devices:
                body = {"interval_s": _number(interval_s), "rooms": {device.id: device.room}}
                out.append((self._topic(home, device, Channel.CONFIG), _json(body)))
        return out

    def statuses(self, at: float, *, online: bool = True) -> list[tuple[str, bytes]]:
        """The retained `status` of every device; offline is exactly the contract's last will."""
        out = []
        for home in self.homes:
            for device in home.devices:
                body: dict[str, Any] = {"state": "offline"}
                if online:
                    # The contract's example reads as a Wi-Fi RSSI in dBm, so status says dBm;
                    # SenML `rssi` records are in dBW as the names table says.
                    body = {
                        "state": "online",
                        "fw": FIRMWARE,
                        "battery": device.battery(at),
                        "rssi": round(device.rssi_dbw + 30.0),
                        "ts": math.floor(at),
                    }
                out.append((self._topic(home, device, Channel.STATUS), _json(body)))
        return out

    def _topic(self, home: Home, device: Device, channel: Channel) -> str:
        return str(Topic(home.id, device.id, channel))


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


class Run:
    """A simulation of an estate in progress; `packs_until` continues it where it stopped."""

    def __init__(self, estate: Estate, start: float, interval_s: float, warmup_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the interval must be positive")
        self.estate = estate
        self.interval_s = float(interval_s)
        self.next_time = math.ceil(start / interval_s - 1e-9) * interval_s
        self.simulation = Simulation(
            estate.dwellings,
            estate.weather,
            estate.seed,
            self.next_time - warmup_s,
        )
        # The warm-up takes long steps; sampling then steps at most one interval at a time.
        self.simulation.advance(self.next_time - self.interval_s)
        self.simulation.max_step_s = min(self.simulation.max_step_s, self.interval_s)
        self._topics = [
            [str(Topic(home.id, device.id, Channel.READING)) for device in home.devices]
            for home in estate.homes
        ]

    def samples_until(self, until: float) -> Iterator[Conditions]:
        """The sensors' conditions at every sample time up to `until`, advancing the run."""
        while self.next_time <= until + 1e-9:
            conditions = self.simulation.advance(self.next_time)
            self.next_time += self.interval_s
            yield conditions

    def packs_until(self, until: float, intervals_per_pack: int = 1) -> Iterator[Pack]:
        """Packs for every sample up to `until`; a pack holds up to `intervals_per_pack`
        samples of one device (split further if it would break the 500-record/16 KiB limit)."""
        if intervals_per_pack < 1:
            raise ValueError("intervals_per_pack must be at least 1")
        chunk: list[Conditions] = []
        for conditions in self.samples_until(until):
            chunk.append(conditions)
            if len(chunk) == intervals_per_pack:
                yield from self._encode(chunk)
                chunk = []
        if chunk:
            yield from self._encode(chunk)

    def _encode(self, chunk: Sequence[Conditions]) -> Iterator[Pack]:
        estate = self.estate
        seed = estate.seed
        times = [c.time for c in chunk]
        # Sensor noise is drawn per sample instant, so it is the same whatever the chunking.
        temperature = []
        humidity = []
        co2 = []
        motion = []
        for c in chunk:
            rng = np.random.default_rng([seed, 0x5E45, round(c.time * 1000)])
            shape = c.temperature.shape
            temperature.append(c.temperature + rng.normal(0.0, 0.04, shape))
            humidity.append(c.humidity + rng.normal(0.0, 0.3, shape))
            co2.append(c.co2 + rng.normal(0.0, 8.0, shape))
            u = rng.random(shape[0])
            motion.append((c.awake_home & (u < 0.85)) | (c.asleep_home & (u < 0.03)))
        stacked = [np.stack(values, axis=1) for values in (temperature, humidity, co2)]
        if not all(np.isfinite(values).all() for values in stacked):
            raise RuntimeError("the physics produced a non-finite reading")  # a bug, not input
        temp_l, hum_l, co2_l = (values.tolist() for values in stacked)
        weather = estate.weather
        out_temp = [float(weather.temperature(t)) for t in times]
        out_rh = [float(weather.relative_humidity(t)) for t in times]
        motion_l = np.stack(motion, axis=1).tolist()
        hourly = [t % 3600.0 < self.interval_s - 1e-9 for t in times]
        base_ms = [round(t * 1000) for t in times]

        # Records are written as JSON text directly (the same bytes json.dumps would give, as
        # hof.senml.encode_pack lays them out): it is most of the simulator's time.
        for home, topics in zip(estate.homes, self._topics, strict=True):
            h = home.index
            for device, topic in zip(home.devices, topics, strict=True):
                entries: list[list[str]] = []
                r = device.room_index
                co2_room = device.room in _CO2_ROOMS
                for k, t in enumerate(times):
                    if device.telecare:
                        rows = [_MOTION_TRUE if motion_l[h][k] else _MOTION_FALSE]
                    elif r == OUTDOOR_INDEX:
                        temp = round(out_temp[k] + device.temperature_offset, 1)
                        rh = min(100.0, max(0.0, out_rh[k] + device.humidity_offset))
                        rows = [f"{_TEMPERATURE}{temp!r}", f"{_HUMIDITY}{round(rh, 1)!r}"]
                    else:
                        temp = round(temp_l[h][k][r] + device.temperature_offset, 1)
                        rh = min(100.0, max(0.0, hum_l[h][k][r] + device.humidity_offset))
                        rows = [f"{_TEMPERATURE}{temp!r}", f"{_HUMIDITY}{round(rh, 1)!r}"]
                        if co2_room:
                            rows.append(f"{_CO2}{round(co2_l[h][k][r])}")
                    if hourly[k]:
                        noise = _unit_noise(seed, device.id, t)
                        rows.append(f"{_BATTERY}{device.battery(t)}")
                        rows.append(f"{_RSSI}{round(device.rssi_dbw + 3.0 * noise)}")
                    entries.append(rows)
                yield from _packs(topic, device.id, base_ms, entries)


_TEMPERATURE = '"n":"temperature","u":"Cel","v":'
_HUMIDITY = '"n":"humidity","u":"%RH","v":'
_CO2 = '"n":"co2","u":"ppm","v":'
_BATTERY = '"n":"battery","u":"%EL","v":'
_RSSI = '"n":"rssi","u":"dBW","v":'
_MOTION_TRUE = '"n":"motion","vb":true'
_MOTION_FALSE = '"n":"motion","vb":false'


def _unit_noise(seed: int, device: str, t: float) -> float:
    """A deterministic value in [-1, 1) for a device at an instant (for slow, rare figures)."""
    digest = hashlib.blake2b(f"{seed}/{device}/{t:.3f}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**31 - 1.0


def _packs(
    topic: str, device: str, base_ms: Sequence[int], entries: Sequence[list[str]]
) -> Iterator[Pack]:
    """Encode samples as one pack, or several if the contract's limits require."""
    count = sum(len(rows) for rows in entries)
    first_ms = base_ms[0]
    out: list[str] = []
    for k, rows in enumerate(entries):
        offset = (base_ms[k] - first_ms) / 1000
        for row in rows:
            if not out:
                out.append(f'{{"bn":"{device}/","bt":{first_ms / 1000!r},{row}}}')
            elif offset:
                out.append(f'{{{row},"t":{offset!r}}}')
            else:
                out.append(f"{{{row}}}")
    payload = f"[{','.join(out)}]".encode()
    if (count > MAX_PACK_RECORDS or len(payload) > MAX_PACK_BYTES) and len(entries) > 1:
        half = len(entries) // 2
        yield from _packs(topic, device, base_ms[:half], entries[:half])
        yield from _packs(topic, device, base_ms[half:], entries[half:])
        return
    yield Pack(topic, payload, count, first_ms / 1000)
