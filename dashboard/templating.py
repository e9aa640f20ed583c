"""Jinja2 templates (autoescaped) with the filters the pages share: times in London, severities."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from dashboard.access import Principal, Role

__all__ = ["render", "templates"]

LONDON = ZoneInfo("Europe/London")
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# GOV.UK tag colours by severity and state: colour is never the only signal, the words are there.
SEVERITY_TAG = {
    "emergency": "govuk-tag--red",
    "severe": "govuk-tag--orange",
    "significant": "govuk-tag--yellow",
    "watch": "govuk-tag--blue",
}
STATE_TAG = {
    "open": "govuk-tag--red",
    "acknowledged": "govuk-tag--yellow",
    "assigned": "govuk-tag--blue",
    "resolved": "govuk-tag--grey",
}


def when(value: dt.datetime | float | None, fmt: str = "%-d %b %Y %H:%M") -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return value.astimezone(LONDON).strftime(fmt)


def ago(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = ((now or dt.datetime.now(dt.UTC)) - value).total_seconds()
    if seconds < 90:
        return "just now"
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def words(value: object) -> str:
    """An identifier as words: 'damp_mould' -> 'Damp mould'."""
    text = str(value.value if hasattr(value, "value") else value).replace("_", " ")
    return text[:1].upper() + text[1:]


templates.env.filters.update(when=when, ago=ago, words=words)
templates.env.globals.update(SEVERITY_TAG=SEVERITY_TAG, STATE_TAG=STATE_TAG, Role=Role)


def render(
    request: Request,
    name: str,
    who: Principal | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page with the signed-in person and their navigation."""
    return templates.TemplateResponse(
        request, name, {"who": who, "path": request.url.path, **values}, status_code=status_code
    )
