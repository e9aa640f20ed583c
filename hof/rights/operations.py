"""The rights operations, each over InfluxDB and the alert store together: subject access
export, erasure, the purge of withdrawn streams, and retention (downsample, then expire)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from hof.alertstore.engine import WRITE
from hof.alertstore.models import Alert
from hof.consent import Stream, consent_payload, consent_topic, publish_consents
from hof.influx import InfluxClient
from hof.registry.consent import mark_purged, pending_purges
from hof.rights.broker import clear_retained
from hof.rights.influxdata import MEASUREMENTS, drop_home, home_series, purge_streams
from hof.rights.records import (
    Actor,
    audit,
    delete_alerts,
    erase_rows,
    expire_audit,
    home_rows,
)
from hof.settings import Settings

__all__ = [
    "ErasureReport",
    "ExpiryReport",
    "erase_home",
    "expire",
    "export_home",
    "purge_withdrawn",
]

log = structlog.get_logger(__name__)

README = """\
What House of the Future holds about home {home}
================================================

This bundle was made on {made} (UTC) at the request of {actor}. It holds everything the
platform keeps about this home. Each file is a table you can open in a spreadsheet.

  home.csv            the home as the landlord registered it (reference, address, patch)
  condition.csv       the summary the housing team's overview ranks the home by
  consent.csv         every consent decision for the home's data, newest last: which stream
                      (environment: temperature, humidity, CO2 ...; activity: movement;
                      telecare: falls and alarm presses), given or withdrawn, on what lawful
                      basis, who recorded it and when
  carers.csv          who has had a care relationship with the home (and so could see its
                      falls, alarm presses and movement), named by whom, from when to when
  alerts.csv          the alerts and repair cases raised for the home, what was found and what
                      was done
  alert_history.csv   every change to those alerts: who did what, and when
  notifications.csv   every message the platform sent about those alerts (to whom, how, and
                      whether it arrived)
  audit.csv           every time someone at the landlord looked at, exported or changed this
                      home's data, and who they were
  readings/*.csv      the sensor readings themselves, one file per kind:
                        reading.csv         temperature, humidity, CO2 and so on, as measured
                        event.csv           movement, door contacts, falls, alarm presses, leaks
                        mould.csv           the mould-growth index worked out for each room
                        overheat_counts.csv the hours each room was too warm this year, as
                                            the overheating rules count them
                        reading_hourly.csv  hourly averages kept after the raw readings expire
                        event_hourly.csv    hourly counts kept after the raw events expire
                      Times are UTC. A blank cell means that sensor did not report that value.

Sensor readings are kept for a limited time and then only as hourly averages; what is not
consented to is not collected at all. docs/data-protection.md in the platform's source says
which data is kept, why, for how long, and who can see it.
"""


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return "" if value is None else value


def _csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> bytes:
    out = io.StringIO()
    names = columns or (list(rows[0]) if rows else ["(none)"])
    writer = csv.writer(out)
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in names])
    return out.getvalue().encode()


def _iso_ms(ms: Any) -> str:
    return dt.datetime.fromtimestamp(int(ms) / 1000, dt.UTC).isoformat(timespec="milliseconds")


async def _readings_csv(influx: InfluxClient, home: str, measurement: str) -> tuple[bytes, int]:
    found = await home_series(influx, home, measurement)
    tags = sorted({k for s in found for k in s.tags if k != "home"})
    fields: list[str] = []
    for s in found:
        fields += [c for c in s.columns[1:] if c not in fields and c not in tags and c != "home"]
    rows: list[dict[str, Any]] = []
    for s in found:
        for values in s.values:
            row = dict(zip(s.columns, values, strict=True))
            row["time"] = _iso_ms(values[0])
            rows.append({**row, **{k: s.tags.get(k, "") for k in tags}})
    rows.sort(key=lambda r: (r["time"], *(str(r.get(t, "")) for t in tags)))
    return _csv(rows, ["time", *tags, *fields]), len(rows)


async def export_home(settings: Settings, engine: Engine, home: str, actor: Actor) -> bytes:
    """One zip of everything held about `home`, with a README; the export itself is audited
    (before it is made, so the bundle lists it too)."""
    # The store's calls are blocking: off the event loop (the dashboard serves on it).
    await asyncio.to_thread(audit, engine, actor, "subject_access_export", home, {"format": "zip"})
    rows = await asyncio.to_thread(home_rows, engine, home)
    buffer = io.BytesIO()
    points: dict[str, int] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        made = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        bundle.writestr("README.txt", README.format(home=home, made=made, actor=actor.email))
        for name, table in (
            ("home.csv", "home"),
            ("condition.csv", "home_condition"),
            ("consent.csv", "consent"),
            ("carers.csv", "carers"),
            ("alerts.csv", "alerts"),
            ("alert_history.csv", "alert_history"),
            ("notifications.csv", "notifications"),
            ("audit.csv", "audit"),
        ):
            bundle.writestr(name, _csv(rows[table]))
        async with InfluxClient(settings.influx) as influx:
            for measurement in MEASUREMENTS:
                body, count = await _readings_csv(influx, home, measurement)
                bundle.writestr(f"readings/{measurement}.csv", body)
                points[measurement] = count
    log.info("subject_access_export", home=home, actor=actor.email, points=points)
    return buffer.getvalue()


@dataclass
class ErasureReport:
    """What an erasure removed (empty: nothing was left to remove)."""

    home: str
    points: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    retained: int = 0  # the broker's retained status and config messages of its devices
    services_told: bool = False

    @property
    def nothing_left(self) -> bool:
        return not self.points and not self.rows and not self.retained

    def as_dict(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "points": self.points,
            "rows": self.rows,
            "retained": self.retained,
            "nothing_left": self.nothing_left,
            "services_told": self.services_told,
        }


async def erase_home(
    settings: Settings, engine: Engine, home: str, actor: Actor, reason: str
) -> ErasureReport:
    """Delete everything held about `home` from InfluxDB and the alert store, tell the
    services to collect nothing more from it, and audit the erasure (counts only, no personal
    data). Idempotent: a second erasure reports nothing left."""
    report = ErasureReport(home)
    async with InfluxClient(settings.influx) as influx:
        report.points = await drop_home(influx, home)
    report.rows = await asyncio.to_thread(erase_rows, engine, home)
    try:
        report.retained = len(await clear_retained(settings.mqtt, home))
    except Exception as exc:  # the rest of the erasure stands; the report says the broker's not
        log.warning("erasure_retained_not_cleared", home=home, error=str(exc)[:200])
    # Any sensor left in the home sends into a void: every stream off, retained.
    payload = consent_payload(
        home, dict.fromkeys(Stream, False), dt.datetime.now(dt.UTC), erased=True
    )
    if report.nothing_left:
        log.info("home_already_erased", home=home)  # told when it was erased
    else:
        try:
            await publish_consents(settings.mqtt, [(consent_topic(home), payload)], timeout_s=5.0)
            report.services_told = True
        except Exception as exc:  # the erasure stands; say that the services were not told
            log.warning("erasure_not_published", home=home, error=str(exc)[:200])
    detail = {
        "reason": reason,
        "points": report.points,
        "rows": report.rows,
        "retained": report.retained,
    }
    await asyncio.to_thread(audit, engine, actor, "erase", home, detail)
    log.info("home_erased", actor=actor.email, **report.as_dict())
    return report


async def purge_withdrawn(settings: Settings, engine: Engine) -> dict[str, int]:
    """Delete what was held under each withdrawn consent not yet purged; values removed per
    home and stream (`home/stream`)."""
    done: dict[str, int] = {}
    pending = await asyncio.to_thread(pending_purges, engine)
    if not pending:
        return done
    cut = int(time.time() * 1000)
    async with InfluxClient(settings.influx) as influx:
        for withdrawal in pending:
            stream = Stream(withdrawal.stream)
            removed = await purge_streams(influx, withdrawal.home, {stream}, cut)
            await asyncio.to_thread(mark_purged, engine, [withdrawal.id], dt.datetime.now(dt.UTC))
            done[f"{withdrawal.home}/{stream.value}"] = removed
            log.info("withdrawn_stream_purged", home=withdrawal.home, stream=stream, values=removed)
    return done


@dataclass
class ExpiryReport:
    """One run of retention: what was downsampled and deleted, and when."""

    at: float
    downsampled: dict[str, int] = field(default_factory=dict)
    expired: dict[str, str] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    audit: int = 0
    purged: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "downsampled": self.downsampled,
            "expired": self.expired,
            "cases": self.cases,
            "audit": self.audit,
            "purged": self.purged,
        }


def _hour_ms(t: float) -> int:
    return int(t // 3600) * 3_600_000


# Raw measurement -> its hourly aggregate and the function that makes it.
HOURLY = {"reading": ("reading_hourly", "mean"), "event": ("event_hourly", "count")}


async def _downsample_then_expire(influx: InfluxClient, measurement: str, cut_ms: int) -> int:
    """Hourly aggregates of the raw points before `cut_ms` (whole hours), then delete them."""
    target, how = HOURLY[measurement]
    held = await influx.query(f'SELECT count(*) FROM "{measurement}" WHERE time < {cut_ms}ms')
    if not any(v for s in held for row in s["values"] for v in row[1:] if v):
        return 0
    written = await influx.query(
        f'SELECT {how}(*) INTO "{target}" FROM "{measurement}" WHERE time < {cut_ms}ms '
        "GROUP BY time(1h), * fill(none)"
    )
    count = int(written[0]["values"][0][1]) if written else 0
    await influx.query(f'DELETE FROM "{measurement}" WHERE time < {cut_ms}ms')
    return count


async def expire(settings: Settings, engine: Engine, *, now: float | None = None) -> ExpiryReport:
    """Retention, once: raw readings and events past their period become hourly aggregates
    and are deleted; aggregates, mould points and closed cases past theirs are deleted; and
    withdrawn streams are purged."""
    rights = settings.rights
    at = time.time() if now is None else now
    report = ExpiryReport(at)
    periods = {"reading": rights.environment_raw_days, "event": rights.events_raw_days}
    async with InfluxClient(settings.influx) as influx:
        for measurement, days in periods.items():
            cut = _hour_ms(at - days * 86400)
            report.downsampled[measurement] = await _downsample_then_expire(
                influx, measurement, cut
            )
            report.expired[measurement] = _iso_ms(cut)
        old = int((at - rights.hourly_days * 86400) * 1000)
        for measurement in ("reading_hourly", "event_hourly", "mould", "overheat_counts"):
            await influx.query(f'DELETE FROM "{measurement}" WHERE time < {old}ms')
            report.expired[measurement] = _iso_ms(old)
    closed_before = dt.datetime.fromtimestamp(at - rights.cases_days * 86400, dt.UTC)
    report.cases = await asyncio.to_thread(expire_cases, engine, closed_before)
    audit_before = dt.datetime.fromtimestamp(at - rights.audit_days * 86400, dt.UTC)
    report.audit = await asyncio.to_thread(expire_audit, engine, audit_before)
    report.purged = await purge_withdrawn(settings, engine)
    log.info("retention_run", **report.as_dict())
    return report


def expire_cases(engine: Engine, before: dt.datetime) -> dict[str, int]:
    """Delete closed cases resolved before `before`, with their history and notifications."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        ids = list(
            conn.execute(
                sa.select(Alert.id).where(
                    Alert.resolved_at.is_not(None), Alert.resolved_at < before
                )
            ).scalars()
        )
        return delete_alerts(conn, ids)
