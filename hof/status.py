"""`hof status`: what is flowing, from the services' metrics and from InfluxDB itself."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from hof.metrics import Labels, parse_text, registered_endpoints
from hof.settings import Settings

__all__ = ["Snapshot", "metric_total", "scrape", "status_command", "take_snapshot"]

Samples = dict[str, dict[Labels, float]]


@dataclass
class Snapshot:
    """One look at every registered service and the time-series store."""

    at: float
    services: list[dict[str, Any]] = field(default_factory=list)
    influx: dict[str, Any] = field(default_factory=dict)
    retention: dict[str, Any] | None = None


def metric_total(samples: Samples, name: str) -> float:
    """A metric's value summed over its labels (0 when absent)."""
    return sum(samples.get(name, {}).values())


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    """A service's /metrics, parsed; httpx.HTTPError when it does not answer."""
    response = httpx.get(url, timeout=3.0, headers=headers or {})
    response.raise_for_status()
    return parse_text(response.text)


def _by(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in samples.get(name, {}).items():
        key = dict(labels).get(label, "")
        out[key] = out.get(key, 0.0) + value
    return out


def _influx_recent(settings: Settings, minutes: int = 5) -> dict[str, Any]:
    auth = None
    if settings.influx.username and settings.influx.password is not None:
        auth = (settings.influx.username, settings.influx.password.get_secret_value())
    out: dict[str, Any] = {"url": settings.influx.url, "database": settings.influx.database}
    queries = {
        "readings": (
            f'SELECT count(*) FROM reading WHERE time > now() - {minutes}m GROUP BY "home"::tag'
        ),
        "events": f"SELECT count(*) FROM event WHERE time > now() - {minutes}m",
    }
    try:
        for key, q in queries.items():
            response = httpx.post(
                f"{settings.influx.url}/query",
                params={"db": settings.influx.database, "q": q},
                auth=auth,
                timeout=5.0,
            )
            response.raise_for_status()
            series = response.json()["results"][0].get("series", [])
            total = sum(v for s in series for v in s["values"][0][1:] if isinstance(v, int))
            out[key] = total
            if key == "readings":
                out["homes"] = len(series)
                out["readings_by_home"] = {
                    s.get("tags", {}).get("home", ""): sum(
                        v for v in s["values"][0][1:] if isinstance(v, int)
                    )
                    for s in series
                }
    except (httpx.HTTPError, KeyError, ValueError, IndexError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["window_min"] = minutes
    return out


def take_snapshot(settings: Settings) -> Snapshot:
    snap = Snapshot(at=time.time())
    token = settings.dashboard.metrics_token
    for entry in registered_endpoints(settings.state_dir):
        service: dict[str, Any] = dict(entry)
        # The dashboard's /metrics answers only its token once one is set (and, in production,
        # nobody without one); the other services serve metrics on loopback only.
        headers = (
            {"Authorization": f"Bearer {token.get_secret_value()}"}
            if token is not None and entry.get("service") == "dashboard"
            else {}
        )
        try:
            samples = scrape(entry["url"], headers)
        except httpx.HTTPError as exc:
            service["error"] = str(exc)
            snap.services.append(service)
            continue
        if entry.get("service") == "gateway":
            service.update(
                messages=metric_total(samples, "hof_gateway_messages_total"),
                records=metric_total(samples, "hof_gateway_records_total"),
                forwarded=metric_total(samples, "hof_gateway_forwarded_records_total"),
                rejected=metric_total(samples, "hof_gateway_rejected_total"),
                dropped=metric_total(samples, "hof_gateway_dropped_readings_total"),
                queue=metric_total(samples, "hof_gateway_queue_depth"),
                escalations=metric_total(samples, "hof_gateway_escalations_total"),
                devices_online=metric_total(samples, "hof_gateway_devices_online"),
                connected=metric_total(samples, "hof_gateway_uplink_connected") > 0,
            )
            snap.services.append(service)
            continue
        if entry.get("service") == "dashboard":
            service.update(
                requests=metric_total(samples, "hof_dashboard_requests_total"),
                by_status=_by(samples, "hof_dashboard_requests_total", "status"),
                sign_in_refused=metric_total(samples, "hof_dashboard_sign_in_refused_total"),
                ready=metric_total(samples, "hof_dashboard_ready") > 0,
                url=str(entry.get("url", "")).removesuffix("/metrics"),
            )
            snap.services.append(service)
            continue
        if entry.get("service") == "notify":
            service.update(
                attempts=metric_total(samples, "hof_notify_attempts_total"),
                attempts_by_status=_by(samples, "hof_notify_attempts_total", "status"),
                attempts_by_channel=_by(samples, "hof_notify_attempts_total", "channel"),
                jobs=metric_total(samples, "hof_notify_jobs_total"),
                jobs_by_outcome=_by(samples, "hof_notify_jobs_total", "outcome"),
                latency_s=metric_total(samples, "hof_notify_last_first_send_seconds"),
                ready=metric_total(samples, "hof_notify_ready") > 0,
            )
            snap.services.append(service)
            continue
        if entry.get("service") == "alerts":
            service.update(
                messages=metric_total(samples, "hof_alerts_messages_total"),
                messages_by_channel=_by(samples, "hof_alerts_messages_total", "channel"),
                findings=metric_total(samples, "hof_alerts_findings_total"),
                findings_by_rule=_by(samples, "hof_alerts_findings_total", "rule"),
                store_errors=metric_total(samples, "hof_alerts_store_errors_total"),
                latency_s=metric_total(samples, "hof_alerts_last_latency_seconds"),
                connected=metric_total(samples, "hof_alerts_ready") > 0,
                rules=next(iter(_by(samples, "hof_alerts_rules", "rules")), "all"),
                unmatched=metric_total(samples, "hof_alerts_settings_unmatched"),
            )
            snap.services.append(service)
            continue
        service.update(
            messages=metric_total(samples, "hof_ingest_messages_total"),
            messages_by_channel=_by(samples, "hof_ingest_messages_total", "channel"),
            records=metric_total(samples, "hof_ingest_records_total"),
            points=metric_total(samples, "hof_ingest_points_written_total"),
            rejected=metric_total(samples, "hof_ingest_rejected_total"),
            rejected_by_reason=_by(samples, "hof_ingest_rejected_total", "reason"),
            refused_by_reason=_by(samples, "hof_ingest_records_refused_total", "reason"),
            write_failures=metric_total(samples, "hof_ingest_write_failures_total"),
            inbox=metric_total(samples, "hof_ingest_inbox_depth"),
            lag_s=metric_total(samples, "hof_ingest_last_batch_lag_seconds"),
            connected=metric_total(samples, "hof_ingest_connected") > 0,
            started=metric_total(samples, "hof_ingest_start_time_seconds"),
        )
        snap.services.append(service)
    snap.influx = _influx_recent(settings)
    from hof.rights.expiry import last_run

    snap.retention = last_run(settings.state_dir)
    return snap


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def _breakdown(parts: dict[str, float]) -> str:
    inner = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(parts.items()) if v)
    return f"  ({inner})" if inner else ""


_RULES_WORDS = {
    "all": "every rule",
    "telecare": "telecare events only (falls, help calls, leaks, smoke, tamper)",
    "rest": "every rule but the telecare events",
}


def _unjudged(services: list[dict[str, Any]]) -> list[str]:
    """A warning when rules-engine workers run but none judges the telecare events (a `rest`
    worker without its `telecare` one: a careless install would leave every fall unraised),
    or none the rest."""
    rules = {s.get("rules") for s in services if s.get("service") == "alerts" and "error" not in s}
    if not rules or "all" in rules or rules == {"telecare", "rest"}:
        return []
    missing = "telecare" if "telecare" not in rules else "rest"
    what = (
        "falls, help calls, leaks and smoke are NOT judged"
        if missing == "telecare"
        else "readings, statuses and inactivity are NOT judged"
    )
    return [f"  WARNING: no rules-engine worker with rules={missing} is running: {what}"]


def render(snap: Snapshot, previous: Snapshot | None) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(snap.at))
    lines = [f"House of the Future status at {stamp}"]
    if not snap.services:
        lines.append("  no ingest worker is registered (is `hof ingest` or `hof demo` running?)")
    lines += _unjudged(snap.services)
    services = sorted(
        snap.services, key=lambda s: (s.get("service") != "ingest", s.get("instance", ""))
    )
    before = {s.get("instance"): s for s in (previous.services if previous else [])}
    span = snap.at - previous.at if previous else 0.0
    for s in services:
        lines.append(f"{s['service']} {s['instance']}  pid {s['pid']}  {s['url']}")
        if "error" in s:
            lines.append(f"  cannot read its metrics: {s['error']}")
            continue
        prev = before.get(s["instance"])
        if s["service"] == "gateway":
            lines += [
                f"  uplink           {'connected' if s['connected'] else 'DOWN'}; "
                f"{_fmt(s['devices_online'])} devices online",
                f"  records in       {_fmt(s['records'])}; forwarded {_fmt(s['forwarded'])}; "
                f"queued {_fmt(s['queue'])}",
                f"  rejected         {_fmt(s['rejected'])}; readings dropped at the bound "
                f"{_fmt(s['dropped'])}; local escalations {_fmt(s['escalations'])}",
            ]
            continue
        if s["service"] == "dashboard":
            lines += [
                f"  serving          {'yes' if s['ready'] else 'NOT READY'}; "
                f"requests {_fmt(s['requests'])}{_breakdown(s['by_status'])}",
                f"  sign-ins refused {_fmt(s['sign_in_refused'])}",
            ]
            continue
        if s["service"] == "notify":
            lines += [
                f"  running          {'yes' if s['ready'] else 'NOT READY'}",
                f"  attempts         {_fmt(s['attempts'])}{_breakdown(s['attempts_by_status'])}"
                f"{_breakdown(s['attempts_by_channel'])}",
                f"  levels done      {_fmt(s['jobs'])}{_breakdown(s['jobs_by_outcome'])}; "
                f"last first send {s['latency_s']:.2f} s after the alert was raised",
            ]
            continue
        if s["service"] == "alerts":
            lines += [
                f"  rules            {_RULES_WORDS.get(s.get('rules', 'all'), s.get('rules'))}",
                f"  messages judged  {_fmt(s['messages'])}{_breakdown(s['messages_by_channel'])}",
                f"  findings         {_fmt(s['findings'])}{_breakdown(s['findings_by_rule'])}",
                f"  store retries    {_fmt(s['store_errors'])}; last finding stored "
                f"{s['latency_s']:.2f} s after receipt",
            ]
            if s.get("unmatched"):
                lines.append(
                    f"  WARNING: its per-home settings name {_fmt(s['unmatched'])} home(s) or "
                    "room(s) no device is in: each in its log (alerts_settings_unmatched)"
                )
            continue

        def rate(key: str, s: dict[str, Any] = s, prev: dict[str, Any] | None = prev) -> str:
            if not prev or span <= 0 or key not in prev:
                return ""
            return f"   {(s[key] - prev[key]) / span:,.1f}/s"

        uptime = snap.at - s["started"] if s["started"] else 0
        lines += [
            f"  broker link      {'connected' if s['connected'] else 'DOWN'}"
            f"   up {uptime / 60:,.1f} min",
            f"  messages in      {_fmt(s['messages'])}{rate('messages')}"
            f"{_breakdown(s['messages_by_channel'])}",
            f"  records          {_fmt(s['records'])}{rate('records')}",
            f"  points written   {_fmt(s['points'])}{rate('points')}",
            f"  rejected         {_fmt(s['rejected'])}{_breakdown(s['rejected_by_reason'])}",
            f"  not consented    {_fmt(sum(s['refused_by_reason'].values()))} records dropped"
            f"{_breakdown(s['refused_by_reason'])}",
            f"  write retries    {_fmt(s['write_failures'])}",
            f"  waiting          {_fmt(s['inbox'])} messages; last batch stored "
            f"{s['lag_s']:.2f} s after receipt",
        ]
    db = snap.influx
    lines.append(f"InfluxDB {db.get('url')} database {db.get('database')!r}")
    if "error" in db:
        lines.append(f"  cannot query it: {db['error']}")
    else:
        lines.append(
            f"  last {db['window_min']} min: {_fmt(db.get('readings', 0))} readings from "
            f"{_fmt(db.get('homes', 0))} homes, {_fmt(db.get('events', 0))} events"
        )
    lines.append(_retention_line(snap))
    return "\n".join(lines)


def _retention_line(snap: Snapshot) -> str:
    run = snap.retention
    if run is None:
        return "retention        never run here (`hof rights expire`; `hof demo` runs it)"
    ago = (snap.at - float(run.get("at", snap.at))) / 60
    if not run.get("ok"):
        return f"retention        last run FAILED {ago:,.0f} min ago: {run.get('error')}"
    down = sum(run.get("downsampled", {}).values())
    cases = run.get("cases", {}).get("alerts", 0)
    purged = len(run.get("purged", {}))
    return (
        f"retention        last run {ago:,.0f} min ago: {_fmt(down)} hourly aggregates made, "
        f"{_fmt(cases)} closed cases and {_fmt(run.get('audit', 0))} audit events expired, "
        f"{purged} withdrawn streams purged"
    )


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    previous: Snapshot | None = None
    shown = 0
    while True:
        snap = take_snapshot(settings)
        if args.json:
            body = {"at": snap.at, "services": snap.services, "influx": snap.influx}
            print(json.dumps({**body, "retention": snap.retention}))
        else:
            print(render(snap, previous), flush=True)
        shown += 1
        if not args.watch or (args.count and shown >= args.count):
            return 0 if snap.services else 1
        previous = snap
        time.sleep(args.watch)
        print()
