"""Page: one home: rooms now, charts over a range, alerts and cases, devices."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.deps import Ctx, PageUser
from dashboard.escalation import escalation_of, notifications_for
from dashboard.homeview import load_home
from dashboard.series import RANGES, Series, home_series, thresholds
from dashboard.templating import render

router = APIRouter(include_in_schema=False)

RANGE_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "1y": "1 year"}
QUANTITIES = (
    ("temperature", "Temperature", "°C"),
    ("humidity", "Relative humidity", "%"),
    ("dew_point", "Dew point", "°C"),
    ("co2", "Carbon dioxide", "ppm"),
    ("mould_index", "Mould index", ""),
)


# How each evidence figure the rules record reads on the page: label and unit.
EVIDENCE = {
    "temperature": ("Air temperature", "°C"),
    "humidity": ("Relative humidity", "%"),
    "dew_point": ("Dew point", "°C"),
    "surface_temperature": ("Wall surface temperature", "°C"),
    "surface_estimated": ("Wall surface temperature estimated", ""),
    "surface_rh": ("Humidity at the wall surface", "%"),
    "hours_rh_high": ("Hours of high humidity in the last 24", "h"),
    "hours_surface_rh_high": ("Hours of damp wall surface in the last 24", "h"),
    "mould_index": ("Mould index (0 to 6)", ""),
    "co2": ("Carbon dioxide", "ppm"),
    "hours_above": ("Hours above the threshold", "h"),
    "hours_below": ("Hours below the threshold", "h"),
    "battery": ("Battery", "%"),
    "silent_s": ("Silent for", "s"),
}


def evidence_figures(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The figures behind an alert, beside its summary sentence (which already says why)."""
    rows = []
    for key, (label, unit) in EVIDENCE.items():
        value = evidence.get(key)
        if isinstance(value, bool):
            rows.append((label, "Yes" if value else "No"))
        elif isinstance(value, int | float):
            text = f"{value:,.0f}" if unit in ("ppm", "s", "%") else f"{value:.1f}"
            rows.append((label, f"{text} {unit}".strip()))
    return rows


def _summary(series: Series) -> list[dict[str, Any]]:
    """Lowest, mean and highest per room and quantity: the charts' text alternative."""
    rows = []
    for room, columns in sorted(series.rooms.items()):
        for key, label, unit in QUANTITIES:
            values = [v for v in columns.get(key, []) if v is not None]
            if values:
                rows.append(
                    {
                        "room": room,
                        "what": label,
                        "unit": unit,
                        "min": min(values),
                        "mean": sum(values) / len(values),
                        "max": max(values),
                    }
                )
    return rows


@router.get("/homes/{home_id}", response_class=HTMLResponse)
async def home_page(
    request: Request, home_id: str, ctx: Ctx, who: PageUser, range: str = "24h"
) -> HTMLResponse:
    if range not in RANGES:
        range = "24h"
    view = await load_home(ctx, who, home_id)
    if view is None:
        raise HTTPException(404, "There is no such home in your patches.")
    series = await home_series(ctx.influx, home_id, range)
    conf = ctx.settings.dashboard
    payload = {
        "range": range,
        "bucket_s": series.bucket_s,
        "rooms": series.rooms,
        "thresholds": thresholds(conf.cold_c, conf.hot_c),
        "quantities": [{"key": k, "label": label, "unit": u} for k, label, u in QUANTITIES],
    }
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "view_home", home=home_id, detail={"range": range})
    )
    ids = [a.alert.id for a in view.alerts]
    notes = await run_in_threadpool(notifications_for, ctx.engine, ids)
    return render(
        request,
        "home.html",
        who,
        title=view.home.address,
        view=view,
        range=range,
        ranges=RANGE_LABELS,
        summary=_summary(series),
        chart_json=json.dumps(payload, separators=(",", ":")).replace("</", "<\\/"),
        escalation={a.alert.id: escalation_of(a.alert, notes.get(a.alert.id)) for a in view.alerts},
        case_categories={"damp_mould", "cold", "heat", "ventilation"},
        evidence_figures=evidence_figures,
    )
