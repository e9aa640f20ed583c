"""Fleet health for the devices page: counts, firmware versions, and who needs a visit."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from dashboard.access import Principal, home_clause
from dashboard.context import Context
from dashboard.db import reading
from dashboard.fleet import LOW_BATTERY
from hof.alertstore import Category, State
from hof.alertstore.models import Alert
from hof.registry import Home

__all__ = ["Attention", "FleetSummary", "fleet_summary"]


@dataclass(frozen=True, slots=True)
class Attention:
    home: str
    address: str
    device: str
    room: str | None
    why: str
    battery: float | None
    firmware: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def fleet_summary(ctx: Context, who: Principal, limit: int, offset: int) -> FleetSummary:
    with reading(ctx.engine) as session:
        homes: dict[str, str] | None = None
        if not who.all_patches:
            homes = dict(
                session.execute(sa.select(Home.id, Home.address).where(home_clause(who))).all()
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
    needs: list[tuple[int, float, str, str, str]] = []
    for (home, device), s in list(ctx.fleet.devices.items()):
        if homes is not None and home not in homes:
            continue
        if s.telecare and not who.sees_health:
            continue
        offline = (home, device) in silent or s.state == "offline"
        state = "offline" if offline else s.state
        counts[state] += 1
        firmware[s.firmware or "unknown"] += 1
        low = s.battery is not None and s.battery < LOW_BATTERY
        counts["low_battery"] += low
        if offline or low:
            why = "offline" if offline else "battery low"
            needs.append(
                (
                    0 if offline else 1,
                    s.battery if s.battery is not None else 0.0,
                    home,
                    device,
                    why,
                )
            )
    needs.sort()
    page = needs[offset : offset + limit]
    if homes is None and page:
        with reading(ctx.engine) as session:
            homes = dict(
                session.execute(
                    sa.select(Home.id, Home.address).where(Home.id.in_({p[2] for p in page}))
                ).all()
            )
    attention = [
        Attention(
            home=home,
            address=(homes or {}).get(home, home),
            device=device,
            room=ctx.fleet.room_of(home, device),
            why=why,
            battery=ctx.fleet.devices[(home, device)].battery,
            firmware=ctx.fleet.devices[(home, device)].firmware,
        )
        for _, _, home, device, why in page
    ]
    return FleetSummary(
        devices=sum(counts[k] for k in ("online", "offline", "unknown")),
        online=counts["online"],
        offline=counts["offline"],
        unknown=counts["unknown"],
        low_battery=counts["low_battery"],
        firmware=firmware,
        attention=attention,
        total_attention=len(needs),
    )
