"""Issue 12, item 9: the home page's charts read UK dates (29/11/26, 24-hour clock, London)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dash_support import browser  # noqa: F401

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"


def test_the_time_axis_and_legend_are_uk_dates_in_london_time(browser: Any) -> None:  # noqa: F811
    start = datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp()  # three days over a month end
    stamps = [start + k * 3600 for k in range(72)]
    series = {
        "quantities": [{"key": "temperature", "label": "Temperature", "unit": "°C"}],
        "rooms": {"bedroom": {"time": stamps, "temperature": [18.0 + k % 5 for k in range(72)]}},
        "thresholds": {},
        "range": "3d",
    }
    page = browser.new_page(viewport={"width": 900, "height": 700})
    try:
        page.set_content(
            '<div id="charts-area" data-home="H1" style="width:800px"></div>'
            f'<script type="application/json" id="series-data">{json.dumps(series)}</script>'
        )
        page.add_script_tag(path=str(STATIC / "build" / "uPlot.iife.min.js"))
        # The axis is drawn on a canvas: keep each chart to ask it for its tick labels.
        page.evaluate(
            """() => {
                const Plot = window.uPlot;
                window.plots = [];
                window.uPlot = function (opts, data, target) {
                    const u = new Plot(opts, data, target);
                    window.plots.push(u);
                    return u;
                };
                Object.assign(window.uPlot, Plot);
            }"""
        )
        page.add_script_tag(path=str(STATIC / "charts.js"))
        ticks = " ".join(page.evaluate("() => window.plots[0].axes[0]._values.map(String)"))
        legend = page.evaluate(
            f"() => window.plots[0].series[0].value(window.plots[0], {start}, 0, 0)"
        )
    finally:
        page.close()
    assert "28/11" in ticks, ticks
    assert "11/28" not in ticks, ticks
    assert "pm" not in ticks.lower(), ticks
    assert legend == "27/11/2026 12:00"  # London is on GMT in November
