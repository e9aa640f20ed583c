"""Fleet health for the devices page: counts, firmware versions, and who needs a visit.

The fleet lives in memory (`dashboard.fleet`); a person's share of it is the devices of the
homes of their patches. Walking 200,000 devices costs 0.06-0.17 s here, so each scope's scan
(counts, firmware versions, the devices needing a visit in order) is kept for
`dashboard.fleet_scan_s` (10 s) and filtered and paged from there; addresses are read from
SQL for the page's rows only.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from dashboard.access import Principal, home_clause
from dashboard.context import Context
from dashboard.db import reading
from dashboard.fleet import LOW_BATTERY
from hof.alertstore import Category, State
from hof.alertstore.models import Alert
from hof.registry import Home

__all__ = ["WHY", "Attention", "FleetFilter", "FleetSummary", "fleet_summary"]

SCANS_KEPT = 64  # distinct patch sets; a handful in practice
WHY = {"offline": "Offline", "battery": "Battery low"}


@dataclass(frozen=True, slots=True)
class FleetFilter:
    why: str = ""  # "", "offline" or "battery"
    estate: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("why", self.why), ("estate", self.estate)) if v}


@dataclass(frozen=True, slots=True)
class Attention:
    home: str
    address: str
    estate: str
    device: str
    kind: str
    room: str | None
    why: str  # offline / battery
    battery: float | None
    firmware: str | None


@dataclass(frozen=True, slots=True)
class _Need:
    rank: int  # 0 offline, 1 battery low
    battery: float
    home: str
    device: str


@dataclass(frozen=True, slots=True)
class _Scan:
    at: float
    counts: Counter[str]
    firmware: Counter[str]
    needs: list[_Need]  # offline first, then the flattest battery


@dataclass(frozen=True, slots=True)
class FleetSummary:
    devices: int
    online: int
    offline: int
    unknown: int
    low_battery: int
    firmware: Counter[str]
    attention: list[Attention]
    total_attention: int
    as_of: float


_scans: dict[tuple[str, ...], _Scan] = {}
_lock = threading.Lock()


def _scan(ctx: Context, who: Principal) -> _Scan:
    # The fleet's identity too: tests and benches run several apps in one process.
    scope = ("*",) if who.all_patches else (*sorted(who.patches), "+", *who.cares_for)
    key = (str(id(ctx.fleet)), *scope)
    ttl = ctx.settings.dashboard.fleet_scan_s
    found = _scans.get(key)
    if found is not None and time.time() - found.at < ttl:
        return found
    with _lock:  # one scan per scope at a time; the others wait for its result
        found = _scans.get(key)
        if found is not None and time.time() - found.at < ttl:
            return found
        with reading(ctx.engine) as session:
            homes = (
                None
                if who.all_patches
                else set(session.scalars(sa.select(Home.id).where(home_clause(who))).all())
            )
            silent = set(
                session.execute(
                    sa.select(Alert.home, Alert.room).where(
                        Alert.category == Category.DEVICE_OFFLINE, Alert.state != State.RESOLVED
                    )
                ).all()
            )
        counts: Counter[str] = Counter()
        firmware: Counter[str] = Counter()
        needs = []
        for s in ctx.fleet.all():
            if homes is not None and s.home not in homes:
                continue
            offline = s.state == "offline" or (s.home, s.device) in silent
            counts["offline" if offline else s.state] += 1
            firmware[s.firmware or "unknown"] += 1
            low = s.battery is not None and s.battery < LOW_BATTERY
            counts["low_battery"] += low
            if offline or low:
                battery = s.battery if s.battery is not None else 0.0
                needs.append(_Need(0 if offline else 1, battery, s.home, s.device))
        needs.sort(key=lambda n: (n.rank, n.battery, n.home, n.device))
        scan = _Scan(time.time(), counts, firmware, needs)
        if len(_scans) >= SCANS_KEPT:
            _scans.clear()
        _scans[key] = scan
        return scan


def fleet_summary(
    ctx: Context, who: Principal, where: FleetFilter, limit: int, offset: int
) -> FleetSummary:
    """Counts for the person's patches and one page of the devices that need a visit."""
    scan = _scan(ctx, who)
    needs = scan.needs
    if where.why in WHY:
        rank = 0 if where.why == "offline" else 1
        needs = [n for n in needs if n.rank == rank]
    if where.estate:
        with reading(ctx.engine) as session:
            in_estate = set(
                session.scalars(
                    sa.select(Home.id).where(home_clause(who), Home.estate == where.estate)
                ).all()
            )
        needs = [n for n in needs if n.home in in_estate]
    page = needs[offset : offset + limit]
    places: dict[str, tuple[str, str]] = {}
    if page:
        with reading(ctx.engine) as session:
            places = {
                id_: (address, estate)
                for id_, address, estate in session.execute(
                    sa.select(Home.id, Home.address, Home.estate).where(
                        Home.id.in_({n.home for n in page})
                    )
                ).all()
            }
    attention = []
    for n in page:
        status = ctx.fleet.get(n.home, n.device)
        address, estate = places.get(n.home, (n.home, ""))
        attention.append(
            Attention(
                home=n.home,
                address=address,
                estate=estate,
                device=n.device,
                kind="telecare" if n.device.startswith("tc-") else "environmental",
                room=ctx.fleet.room_of(n.home, n.device),
                why="offline" if n.rank == 0 else "battery",
                battery=status.battery if status else None,
                firmware=status.firmware if status else None,
            )
        )
    c = scan.counts
    return FleetSummary(
        devices=c["online"] + c["offline"] + c["unknown"],
        online=c["online"],
        offline=c["offline"],
        unknown=c["unknown"],
        low_battery=c["low_battery"],
        firmware=scan.firmware,
        attention=attention,
        total_attention=len(needs),
        as_of=scan.at,
    )
